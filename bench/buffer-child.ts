import { runBufferBench } from './buffer-bench.js';

// A process of its own for the buffer benchmark: its RSS is Node plus the buffer, nothing else.
process.stdout.write(JSON.stringify(runBufferBench(Number(process.argv[2] ?? 2))) + '\n');
