import { describe, expect, it } from 'vitest';
import { redactCommandLine } from '../../daemon/redact/redact-command-line.js';
import { DEFAULT_REDACT_RULES, type RedactRules } from '../../daemon/model/redact-rules.js';
import { redactUrlUserinfo } from '../../daemon/redact/url-userinfo.js';

// Command lines as /proc/PID/cmdline holds them (NUL between arguments, one at the end).
const argv = (...args: string[]) => args.join('\0') + '\0';
const R = '<redacted>';

describe('redactCommandLine', () => {
  it.each([
    [['app', '--password=hunter2'], `app --password=${R}`],
    [['app', '--token', 'abc', 'serve'], `app --token ${R} serve`],
    [['app', '--api-key', 'k1'], `app --api-key ${R}`],
    [['app', '-password', 'p'], `app -password ${R}`],
    [['env', 'AWS_SECRET_ACCESS_KEY=x', 'aws', 's3', 'ls'], `env AWS_SECRET_ACCESS_KEY=${R} aws s3 ls`],
    [['env', 'PGPASSWORD=pw', 'psql'], `env PGPASSWORD=${R} psql`],
    [['java', '-Dpassword=p', '-Djavax.net.ssl.keyStorePassword=s', '-Dkey=k', '-Xmx1g', 'Main'], `java -Dpassword=${R} -Djavax.net.ssl.keyStorePassword=${R} -Dkey=${R} -Xmx1g Main`],
    [['app', '--client-secret=a b c'], `app --client-secret=${R}`],
    [['curl', '-H', 'Authorization: Bearer xyz', 'https://api/'], `curl -H Authorization: ${R} https://api/`],
    [['app', '--apiKey=1', '--HTTPAuth=2', '--credentials-file', '/etc/c'], `app --apiKey=${R} --HTTPAuth=${R} --credentials-file ${R}`],
    [['redis-cli', '-u', 'redis://:pass@h:6379/0'], `redis-cli -u redis://:${R}@h:6379/0`],
    [['git', 'clone', 'https://user:p@ss@github.com/o/r'], `git clone https://user:${R}@github.com/o/r`],
    [['git', 'clone', 'https://ghp_abc@github.com/o/r'], `git clone https://${R}@github.com/o/r`],
    [['app', 'PWD=/home/me'], `app PWD=${R}`],
  ])('%j → %s', (args, expected) => {
    expect(redactCommandLine(argv(...args))).toBe(expected);
  });

  it.each([
    [['app', '--keyboard', 'us', '--author=me', '--monkey', 'x', '--verbose']],
    [['postgres', '-D', '/var/lib/postgresql', '-c', 'config_file=/etc/pg.conf']],
    [['app', '--password', '--verbose']],
    [['app', '--no-auth', '/data']],
    [['ssh', 'git@github.com']],
    [['curl', 'https://example.com/a@b']],
    [['app', '--token=']],
  ])('leaves %j as it is', (args) => {
    expect(redactCommandLine(argv(...args))).toBe(args.join(' '));
  });

  it('searches a shell script word by word, quoted values whole', () => {
    const script = `cd /srv && MYSQL_PWD='s3 cr3t' mysql --password "two words" -h db; curl -H "Authorization: Bearer tok" -u https://u:p@h/x; export API_TOKEN=t1`;
    expect(redactCommandLine(argv('sh', '-c', script))).toBe(
      `sh -c cd /srv && MYSQL_PWD='${R}' mysql --password "${R}" -h db; curl -H "Authorization: ${R}" -u https://u:${R}@h/x; export API_TOKEN=${R}`,
    );
    // An argument that is an assignment is one value to its end, blanks and all: safe for
    // `--secret="a b"`, and a script starting with one loses the rest of its text, never a secret.
    expect(redactCommandLine(argv('sh', '-c', 'TOKEN=t1 run --fast'))).toBe(`sh -c TOKEN=${R}`);
  });

  it('takes a line already joined by spaces, every blank a boundary', () => {
    expect(redactCommandLine('app --password=hunter2 --token abc https://u:p@h/ AWS_SECRET_ACCESS_KEY=x done')).toBe(
      `app --password=${R} --token ${R} https://u:${R}@h/ AWS_SECRET_ACCESS_KEY=${R} done`,
    );
    expect(redactCommandLine('')).toBe('');
    expect(redactCommandLine(argv('bash'))).toBe('bash');
  });

  it('adds names and turns the defaults off', () => {
    const rules: RedactRules = { defaults: false, names: ['pin'], urlUserinfo: false };
    expect(redactCommandLine(argv('app', '--sim-pin=1234', '--password=p', 'https://u:p@h/'), rules)).toBe(`app --sim-pin=${R} --password=p https://u:p@h/`);
    expect(redactCommandLine(argv('app', '--pin', '1', '--token', 't'), { ...DEFAULT_REDACT_RULES, names: ['pin'] })).toBe(`app --pin ${R} --token ${R}`);
  });

  it('stays linear on hostile input: 4 KiB arguments of every shape', () => {
    // A backtracking pattern would take minutes on these; the test's timeout is the bound.
    const shapes = ['-'.repeat(4096), 'a'.repeat(4096), '='.repeat(4096), `--${'a'.repeat(4090)}!`, `${'a:'.repeat(2048)}`, `${'://'.repeat(1365)}`, `"${'a '.repeat(2047)}`, `${'x@'.repeat(2048)}`];
    for (const shape of shapes) {
      expect(redactCommandLine(argv('app', shape)).length).toBeGreaterThan(4000);
      expect(redactCommandLine(shape.replaceAll(' ', '\t')).length).toBeGreaterThan(4000);
    }
  });
});

describe('redactUrlUserinfo', () => {
  it('keeps the user and hides the password; leaves URLs without userinfo alone', () => {
    expect(redactUrlUserinfo('a https://user:pass@host/p?q=1#f b')).toBe(`a https://user:${R}@host/p?q=1#f b`);
    expect(redactUrlUserinfo('postgres://app:pw@db:5432/x,amqp://:k@mq')).toBe(`postgres://app:${R}@db:5432/x,amqp://:${R}@mq`);
    expect(redactUrlUserinfo('https://example.com/?u=a@b')).toBe('https://example.com/?u=a@b');
    expect(redactUrlUserinfo('no url here')).toBe('no url here');
  });
});
