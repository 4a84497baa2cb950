{
  "targets": [
    {
      "target_name": "fusebench_syscalls",
      "sources": ["native/syscalls.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "defines": ["_GNU_SOURCE"]
    },
    {
      "target_name": "fusebench_lz4",
      "sources": ["native/lz4.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-llz4"]
    },
    {
      "target_name": "fusebench_uring",
      "sources": ["native/uring.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "defines": ["_GNU_SOURCE"],
      "libraries": ["-luring"]
    },
    {
      "target_name": "fusebench-roundtrip",
      "type": "executable",
      "sources": ["native/roundtrip.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    },
    {
      "target_name": "fusebench-opdriver",
      "type": "executable",
      "sources": ["native/opdriver.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
