{
  "targets": [
    {
      "target_name": "llmtap_capture",
      "sources": ["src/addon.c", "src/capture.c", "src/devices.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lpcap", "-lpthread"]
    }
  ]
}
