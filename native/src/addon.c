/*
 * N-API surface of the capture binding (plain node_api.h, no C++):
 *   open(iface, snaplen, promisc, bufferBytes, timeoutMs, immediate, bpf|null) -> handle
 *   linkType(handle) -> number;  tsPrecision(handle) -> 'nano' | 'micro'
 *   fanout(handle, group)         join PACKET_FANOUT group (hash + defrag) before start
 *   start(handle, slots, maxPackets, onBatch(slot, count), onClosed(error|null))
 *   stats(handle) -> { received, dropped, ifDropped, loopDupSkipped, fanoutPrejoinSkipped,
 *                      batches, valid }   (received/dropped: this socket's PACKET_STATISTICS)
 *   close(handle)                 stop the thread; onClosed fires once every batch was delivered
 *   listInterfaces() -> [{ name, addresses }]
 * Errors thrown from open carry a code: ENODEV, EPERM, EIFDOWN, EBPF, EPCAP; from fanout
 * EFANOUT.
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"

napi_value lt_list_interfaces(napi_env env, napi_callback_info info);

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, "EINTERNAL", "N-API call failed: " #call); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

static void handle_finalize(napi_env env, void *data, void *hint) {
  lt_capture *c = (lt_capture *)data;
  if (c->thread_started || c->leaked) return; /* still running, or see env_cleanup */
  lt_close_handle(c);
  free(c);
}

static lt_capture *get_handle(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "EINVAL", "not a capture handle");
    return NULL;
  }
  return (lt_capture *)data;
}

/* A handle that has not started capturing and is not closed (else ESTATE with `msg`). */
static lt_capture *get_idle_handle(napi_env env, napi_value v, const char *msg) {
  lt_capture *c = get_handle(env, v);
  if (!c) return NULL;
  if (c->thread_started || c->closed || c->tsfn) {
    napi_throw_error(env, "ESTATE", msg);
    return NULL;
  }
  return c;
}

static int get_string(napi_env env, napi_value v, char *out, size_t len) {
  size_t n = 0;
  return napi_get_value_string_utf8(env, v, out, len, &n) == napi_ok && n < len - 1 ? 0 : -1;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "EINVAL", "open expects 7 arguments");
    return NULL;
  }
  char iface[256];
  if (get_string(env, argv[0], iface, sizeof iface) != 0) {
    napi_throw_type_error(env, "EINVAL", "interface name must be a string under 255 bytes");
    return NULL;
  }
  int32_t snaplen = 0, buffer_bytes = 0, timeout_ms = 0;
  bool promisc = false, immediate = false;
  CHECK(napi_get_value_int32(env, argv[1], &snaplen));
  CHECK(napi_get_value_bool(env, argv[2], &promisc));
  CHECK(napi_get_value_int32(env, argv[3], &buffer_bytes));
  CHECK(napi_get_value_int32(env, argv[4], &timeout_ms));
  CHECK(napi_get_value_bool(env, argv[5], &immediate));
  char *bpf = NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[6], &t));
  if (t == napi_string) {
    size_t n = 0;
    CHECK(napi_get_value_string_utf8(env, argv[6], NULL, 0, &n));
    bpf = malloc(n + 1);
    if (!bpf) return NULL;
    CHECK(napi_get_value_string_utf8(env, argv[6], bpf, n + 1, &n));
  }
  lt_capture *c = calloc(1, sizeof *c);
  if (!c) {
    free(bpf);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  char err[PCAP_ERRBUF_SIZE + 256];
  const char *code = "EPCAP";
  int rc = lt_open(c, iface, snaplen, promisc, buffer_bytes, timeout_ms, immediate, bpf, err,
                   sizeof err, &code);
  free(bpf);
  if (rc != 0) {
    free(c);
    napi_throw_error(env, code, err);
    return NULL;
  }
  napi_value ext;
  CHECK(napi_create_external(env, c, handle_finalize, NULL, &ext));
  return ext;
}

static napi_value js_link_type(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lt_capture *c = get_handle(env, argv[0]);
  if (!c) return NULL;
  CHECK(napi_create_int32(env, c->link_type, &out));
  return out;
}

static napi_value js_ts_precision(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lt_capture *c = get_handle(env, argv[0]);
  if (!c) return NULL;
  CHECK(napi_create_string_utf8(env, c->nano ? "nano" : "micro", NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value js_fanout(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "EINVAL", "fanout expects 2 arguments");
    return NULL;
  }
  lt_capture *c = get_idle_handle(env, argv[0], "fanout must be joined before start");
  if (!c) return NULL;
  int32_t group = -1;
  CHECK(napi_get_value_int32(env, argv[1], &group));
  char err[256];
  const char *code = "EFANOUT";
  if (lt_join_fanout(c, group, err, sizeof err, &code) != 0) {
    napi_throw_error(env, code, err);
    return NULL;
  }
  return NULL;
}

/* Runs on the JS thread for each queued slot. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  lt_capture *c = (lt_capture *)context;
  int s = (int)(intptr_t)data;
  if (env && js_cb) {
    napi_value args[2], undef, result;
    napi_create_int32(env, s, &args[0]);
    napi_create_uint32(env, c->slots[s].count, &args[1]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, js_cb, 2, args, &result);
  }
  pthread_mutex_lock(&c->mu);
  c->slots[s].state = LT_SLOT_FREE;
  c->slots[s].count = 0;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/*
 * The JavaScript environment is going away while the capture runs (a worker thread that failed
 * or was terminated, or the process exiting without close()): stop the capture thread and close
 * the socket now, so that it leaves its fanout group at once instead of taking its share of the
 * interface's packets into a ring nobody reads (and so that the environment can end at all). The
 * threadsafe function's own teardown may still touch the struct afterwards, so it is never freed
 * (one small struct per such event).
 */
static void env_cleanup(void *arg) {
  lt_capture *c = (lt_capture *)arg;
  c->cleanup_hooked = 0;
  c->leaked = 1;
  lt_request_stop(c);
  lt_close_handle(c);
}

/* Runs on the JS thread after the capture thread released the function and every queued batch
 * was delivered: join, close libpcap, drop the slot references, report. */
static void tsfn_finalize(napi_env env, void *data, void *hint) {
  lt_capture *c = (lt_capture *)data;
  if (c->cleanup_hooked) {
    napi_remove_env_cleanup_hook(env, env_cleanup, c);
    c->cleanup_hooked = 0;
  }
  lt_close_handle(c);
  for (int i = 0; i < c->nslots; i++) {
    for (int k = 0; k < 7; k++) {
      if (c->slots[i].refs[k]) napi_delete_reference(env, c->slots[i].refs[k]);
      c->slots[i].refs[k] = NULL;
    }
  }
  napi_value cb, undef, arg, result;
  if (c->on_closed && napi_get_reference_value(env, c->on_closed, &cb) == napi_ok && cb) {
    napi_get_undefined(env, &undef);
    if (c->error[0]) {
      napi_create_string_utf8(env, c->error, NAPI_AUTO_LENGTH, &arg);
    } else {
      napi_get_null(env, &arg);
    }
    napi_call_function(env, undef, cb, 1, &arg, &result);
  }
  if (c->on_closed) napi_delete_reference(env, c->on_closed);
  c->on_closed = NULL;
}

static int bind_array(napi_env env, napi_value obj, const char *key, napi_typedarray_type want,
                      size_t min_len, void **ptr, napi_ref *ref) {
  napi_value v;
  bool is_ta = false;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return -1;
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &len, ptr, &ab, &off) != napi_ok) return -1;
  if (type != want || len < min_len) return -1;
  return napi_create_reference(env, v, 1, ref) == napi_ok ? 0 : -1;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "EINVAL", "start expects 5 arguments");
    return NULL;
  }
  lt_capture *c = get_idle_handle(env, argv[0], "capture already started or closed");
  if (!c) return NULL;
  uint32_t nslots = 0, max_packets = 0;
  CHECK(napi_get_array_length(env, argv[1], &nslots));
  CHECK(napi_get_value_uint32(env, argv[2], &max_packets));
  if (nslots < 2 || nslots > LT_MAX_SLOTS || max_packets < 1) {
    napi_throw_range_error(env, "EINVAL", "need 2..8 slots and maxPackets >= 1");
    return NULL;
  }
  c->max_packets = max_packets;
  c->nslots = (int)nslots;
  for (uint32_t i = 0; i < nslots; i++) {
    napi_value slot, bufv;
    lt_slot *s = &c->slots[i];
    CHECK(napi_get_element(env, argv[1], i, &slot));
    CHECK(napi_get_named_property(env, slot, "buf", &bufv));
    void *bp = NULL;
    size_t blen = 0;
    if (napi_get_buffer_info(env, bufv, &bp, &blen) != napi_ok || blen == 0) {
      napi_throw_type_error(env, "EINVAL", "slot.buf must be a non-empty Buffer");
      return NULL;
    }
    s->buf = bp;
    s->buf_cap = blen;
    CHECK(napi_create_reference(env, bufv, 1, &s->refs[0]));
    int bad = 0;
    bad |= bind_array(env, slot, "offset", napi_uint32_array, max_packets, (void **)&s->offset, &s->refs[1]);
    bad |= bind_array(env, slot, "capLen", napi_uint32_array, max_packets, (void **)&s->cap_len, &s->refs[2]);
    bad |= bind_array(env, slot, "wireLen", napi_uint32_array, max_packets, (void **)&s->wire_len, &s->refs[3]);
    bad |= bind_array(env, slot, "tsUs", napi_float64_array, max_packets, (void **)&s->ts_us, &s->refs[4]);
    bad |= bind_array(env, slot, "linkType", napi_uint16_array, max_packets, (void **)&s->link_type, &s->refs[5]);
    bad |= bind_array(env, slot, "ifIndex", napi_uint16_array, max_packets, (void **)&s->if_index, &s->refs[6]);
    if (bad) {
      napi_throw_type_error(env, "EINVAL", "slot arrays missing, of the wrong type or too short");
      return NULL;
    }
    s->state = LT_SLOT_FREE;
  }
  CHECK(napi_create_reference(env, argv[4], 1, &c->on_closed));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "llmtap.capture", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[3], NULL, name, nslots, 1, c, tsfn_finalize,
                                        c, call_js, &c->tsfn));
  char err[256];
  if (lt_start_thread(c, err, sizeof err) != 0) {
    napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
    napi_throw_error(env, "EPCAP", err);
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, env_cleanup, c) == napi_ok) c->cleanup_hooked = 1;
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lt_capture *c = get_handle(env, argv[0]);
  if (!c) return NULL;
  lt_stats st;
  lt_read_stats(c, &st);
  CHECK(napi_create_object(env, &out));
  napi_create_double(env, (double)st.received, &v);
  napi_set_named_property(env, out, "received", v);
  napi_create_double(env, (double)st.dropped, &v);
  napi_set_named_property(env, out, "dropped", v);
  napi_create_double(env, (double)st.if_dropped, &v);
  napi_set_named_property(env, out, "ifDropped", v);
  napi_create_double(env, (double)st.loop_dup_skipped, &v);
  napi_set_named_property(env, out, "loopDupSkipped", v);
  napi_create_double(env, (double)st.fanout_prejoin_skipped, &v);
  napi_set_named_property(env, out, "fanoutPrejoinSkipped", v);
  napi_create_double(env, (double)st.batches, &v);
  napi_set_named_property(env, out, "batches", v);
  napi_get_boolean(env, st.valid != 0, &v);
  napi_set_named_property(env, out, "valid", v);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lt_capture *c = get_handle(env, argv[0]);
  if (!c) return NULL;
  if (c->thread_started) {
    lt_request_stop(c); /* tsfn_finalize closes the handle and calls onClosed */
    napi_get_boolean(env, true, &out);
  } else {
    lt_close_handle(c);
    napi_get_boolean(env, false, &out);
  }
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"linkType", NULL, js_link_type, NULL, NULL, NULL, napi_default, NULL},
      {"tsPrecision", NULL, js_ts_precision, NULL, NULL, NULL, napi_default, NULL},
      {"fanout", NULL, js_fanout, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"listInterfaces", NULL, lt_list_interfaces, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
