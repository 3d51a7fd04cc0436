/*
 * llmtap live capture: one libpcap handle drained by one capture thread into a small pool of
 * batch slots whose memory belongs to JavaScript (Buffers and typed arrays allocated once at
 * start). See capture.c for why a thread and not an event-loop poll.
 */
#ifndef LLMTAP_CAPTURE_H
#define LLMTAP_CAPTURE_H

#include <node_api.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdint.h>

#define LT_MAX_SLOTS 8

enum lt_slot_state { LT_SLOT_FREE = 0, LT_SLOT_FILLING = 1, LT_SLOT_QUEUED = 2 };

typedef struct {
  uint8_t *buf;
  size_t buf_cap;
  uint32_t *offset;
  uint32_t *cap_len;
  uint32_t *wire_len;
  double *ts_us;
  uint16_t *link_type;
  uint16_t *if_index;
  uint32_t count;
  size_t used;
  int state;
  napi_ref refs[7];
} lt_slot;

typedef struct {
  uint64_t received;
  uint64_t dropped;
  uint64_t if_dropped;
  uint64_t loop_dup_skipped;
  uint64_t batches;
  uint64_t fanout_prejoin_skipped;
  int valid;
} lt_stats;

typedef struct lt_capture {
  pcap_t *p;
  int link_type;
  int nano;              /* timestamps are ns (PCAP_TSTAMP_PRECISION_NANO) or µs */
  int skip_loop_out;     /* "any": drop SLL outgoing copies of loopback packets */
  int timeout_ms;
  uint32_t max_packets;
  int fanout_group;      /* PACKET_FANOUT group joined, -1 if none */
  double fanout_since_us; /* packets stamped before the join reached this socket alone: skipped */

  lt_slot slots[LT_MAX_SLOTS];
  int nslots;
  int cur;               /* slot being filled by the capture thread, -1 if none */
  double batch_deadline_ms; /* monotonic ms when the current non-empty batch must go */

  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int thread_started;
  volatile int stopping;
  int wake_fd[2];
  int closed;            /* pcap handle closed */

  /* pcap_stats raw values are 32-bit and wrap; we keep the last raw reading and 64-bit sums */
  uint32_t raw_recv, raw_drop, raw_ifdrop;
  lt_stats stats;        /* guarded by mu */
  double last_stats_ms;
  char error[PCAP_ERRBUF_SIZE + 64]; /* fatal capture error, guarded by mu */

  int cleanup_hooked;    /* env_cleanup registered with the JS environment */
  int leaked;            /* the environment went away under a running capture: never freed */

  napi_threadsafe_function tsfn;
  napi_ref on_batch;
  napi_ref on_closed;
} lt_capture;

/* capture.c */
int lt_open(lt_capture *c, const char *iface, int snaplen, int promisc, int buffer_bytes,
            int timeout_ms, int immediate, const char *bpf, char *err, size_t err_len,
            const char **code);
int lt_start_thread(lt_capture *c, char *err, size_t err_len);
int lt_join_fanout(lt_capture *c, int group, char *err, size_t err_len, const char **code);
void lt_request_stop(lt_capture *c);
void lt_read_stats(lt_capture *c, lt_stats *out);
void lt_close_handle(lt_capture *c);
double lt_now_ms(void);

#endif
