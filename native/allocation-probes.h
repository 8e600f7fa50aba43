// Session uprobes (Linux 6.13+) for the allocation profile (bpf/allocations.h): the kernel's
// uprobe_multi link, created with the raw bpf(2) call because the libbpf this builds against
// (Debian's 1.1) predates it, and the table of sampled allocations' cleanup.
#pragma once
#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

// The kernel's number for BPF_TRACE_UPROBE_SESSION, from its own BTF (the headers this builds
// against predate it), or -1 with `*why` saying what this kernel lacks.
int UprobeSessionAttachType(std::string* why);

// Attaches `prog_fd` (loaded with expected_attach_type `attach_type`) at `offsets` of the file at
// `path`, for thread group `pid` only, each probe with `cookie` (bpf_get_attach_cookie). The
// link's fd, or -errno.
int AttachUprobeSession(int prog_fd, uint32_t attach_type, const std::string& path, const std::vector<uint64_t>& offsets,
                        uint64_t cookie, uint32_t pid);

// What an errno from attaching the allocation probes means, in words a person can act on.
std::string DescribeAttachError(int err);

// Deletes every entry of thread group `tgid` from alloc_live (`map_fd`): its sampled allocations
// after it exited or its probes were detached. The number deleted, or -errno.
long ForgetProcessAllocations(int map_fd, uint32_t tgid);

// -ln((i + 0.5) / steps) in fixed point with `shift` fraction bits, for i in [0, steps): the
// exponential gaps' table (bpf/allocations.h).
std::vector<uint32_t> ExponentialGapTable(unsigned steps, unsigned shift);
