{
  "targets": [
    {
      "target_name": "tail2_native",
      "sources": [
        "addon.cc", "allocation-probes.cc", "probe-sets.cc",
        "libbpf-error.cc",
        "online-cpus.cc",
        "perf-counters.cc",
        "perf-event.cc",
        "sampler.cc",
        "unwind-maps.cc",
        "sd-notify.cc",
        "task-stats.cc"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "../bpf",
        "../build/bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-fexceptions"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
