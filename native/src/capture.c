/*
 * Capture thread and libpcap handling.
 *
 * Why a capture thread + napi_threadsafe_function rather than a non-blocking pcap fd polled
 * from the event loop (uv_poll): with a poll on the JS thread, the kernel ring is drained only
 * while JavaScript is idle, so every GC pause or slow batch lets the ring fill, and the copy out
 * of the ring competes with decoding on the same core. A dedicated thread keeps draining the
 * ring into the next free slot while JavaScript works on the previous one (the two cores run
 * in parallel), and a pool of slots absorbs bursts. When JavaScript falls behind for longer
 * than the pool lasts, the thread waits for a free slot instead of dropping in user space: the
 * kernel ring then fills and the kernel counts the drops, so every loss shows up in
 * pcap_stats (ps_drop) and nowhere else. One JS call per batch, never per packet.
 *
 * The slot memory is allocated by JavaScript (Buffers/typed arrays, referenced here so they
 * cannot be collected); a slot is written only by this thread while FILLING and read only by
 * JavaScript while QUEUED, handed over under the mutex.
 */
#define _GNU_SOURCE
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __linux__
#include <linux/if_packet.h>
#include <sys/socket.h>
#endif
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Linux cooked header (LINKTYPE_LINUX_SLL, 113): packet type at 0..1, ARPHRD type at 2..3,
 * both big-endian. PACKET_OUTGOING = 4 (linux/if_packet.h), ARPHRD_LOOPBACK = 772. */
#define SLL_PKTTYPE_OUTGOING 4
#define ARPHRD_LOOPBACK_TYPE 772

double lt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int lt_open(lt_capture *c, const char *iface, int snaplen, int promisc, int buffer_bytes,
            int timeout_ms, int immediate, const char *bpf, char *err, size_t err_len,
            const char **code) {
  char ebuf[PCAP_ERRBUF_SIZE];
  ebuf[0] = 0;
  *code = "EPCAP";
  pcap_t *p = pcap_create(iface, ebuf);
  if (!p) {
    snprintf(err, err_len, "pcap_create(%s): %s", iface, ebuf);
    return -1;
  }
  pcap_set_snaplen(p, snaplen);
  pcap_set_promisc(p, promisc);
  pcap_set_timeout(p, timeout_ms);
  if (buffer_bytes > 0) pcap_set_buffer_size(p, buffer_bytes);
  if (immediate) pcap_set_immediate_mode(p, 1);
  c->nano = 0;
#ifdef PCAP_TSTAMP_PRECISION_NANO
  if (pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0) c->nano = 1;
#endif
  int rc = pcap_activate(p);
  if (rc < 0) {
    const char *detail = pcap_geterr(p);
    switch (rc) {
      case PCAP_ERROR_NO_SUCH_DEVICE:
        *code = "ENODEV";
        snprintf(err, err_len, "interface %s does not exist (%s)", iface, detail);
        break;
      case PCAP_ERROR_PERM_DENIED:
        *code = "EPERM";
        snprintf(err, err_len,
                 "no permission to capture on %s: needs root or CAP_NET_RAW (which also "
                 "covers promiscuous mode) (%s)", iface, detail);
        break;
      case PCAP_ERROR_IFACE_NOT_UP:
        *code = "EIFDOWN";
        snprintf(err, err_len, "interface %s is not up", iface);
        break;
      default:
        snprintf(err, err_len, "cannot activate capture on %s: %s (%s)", iface,
                 pcap_statustostr(rc), detail);
    }
    pcap_close(p);
    return -1;
  }
  if (c->nano && pcap_get_tstamp_precision(p) != PCAP_TSTAMP_PRECISION_NANO) c->nano = 0;

  c->link_type = pcap_datalink(p);
  c->skip_loop_out = 0;
  if (strcmp(iface, "lo") == 0) {
    /* On loopback every packet is seen twice, leaving and arriving: keep the arrival only. */
    if (pcap_setdirection(p, PCAP_D_IN) != 0) {
      snprintf(err, err_len, "cannot set capture direction on %s: %s", iface, pcap_geterr(p));
      pcap_close(p);
      return -1;
    }
  } else if (c->link_type == DLT_LINUX_SLL) {
    /* "any": loopback packets appear as OUTGOING then HOST; the OUTGOING copy is skipped per
     * packet (direction IN would also hide this host's own traffic on real interfaces). */
    c->skip_loop_out = 1;
  }
  if (bpf && bpf[0]) {
    struct bpf_program prog;
    if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      *code = "EBPF";
      snprintf(err, err_len, "invalid BPF filter: %s", pcap_geterr(p));
      pcap_close(p);
      return -1;
    }
    int frc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (frc != 0) {
      *code = "EBPF";
      snprintf(err, err_len, "cannot install BPF filter: %s", pcap_geterr(p));
      pcap_close(p);
      return -1;
    }
  }
  if (pcap_setnonblock(p, 1, ebuf) != 0) {
    snprintf(err, err_len, "cannot set non-blocking mode: %s", ebuf);
    pcap_close(p);
    return -1;
  }
  c->p = p;
  c->fanout_group = -1;
  c->fanout_since_us = 0;
  c->timeout_ms = timeout_ms;
  c->cur = -1;
  c->closed = 0;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->wake_fd[0] = c->wake_fd[1] = -1;
  return 0;
}

/*
 * Joins the Linux packet fanout group `group` (0..65535) in hash mode with IPv4 defragmentation:
 * the kernel then hands each packet to exactly one socket of the group, chosen by a hash over
 * the flow's addresses and ports that is the same for both directions, and reassembles IPv4
 * fragments before hashing so they land with their flow. Called after lt_open (the socket must
 * be bound, which pcap_activate did) and before the capture thread starts. The TPACKET_V3 ring
 * libpcap 1.10 sets up is unaffected: fanout only chooses which socket's ring gets the packet.
 *
 * Between activation and the join this socket received every packet of the interface, which
 * another member also receives; packets stamped before the join are therefore skipped (and
 * counted) so that no packet is seen twice.
 */
int lt_join_fanout(lt_capture *c, int group, char *err, size_t err_len, const char **code) {
  *code = "EFANOUT";
#if defined(__linux__) && defined(PACKET_FANOUT)
  if (group < 0 || group > 0xffff) {
    snprintf(err, err_len, "fanout group must be in 0..65535, not %d", group);
    return -1;
  }
  if (c->fanout_group >= 0) {
    snprintf(err, err_len, "this capture already joined fanout group %d", c->fanout_group);
    return -1;
  }
  int fd = pcap_fileno(c->p);
  int arg = group | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
    int e = errno;
    const char *why = "";
    if (e == EINVAL)
      why = " (the group already exists on another interface or with another mode: another "
            "program may be using this group id; choose another one)";
    else if (e == ENOSPC)
      why = " (the group is full)";
    else if (e == EPERM)
      why = " (needs CAP_NET_RAW)";
    snprintf(err, err_len, "the kernel refused to join packet fanout group %d: %s%s", group,
             strerror(e), why);
    return -1;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  c->fanout_since_us = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
  c->fanout_group = group;
  return 0;
#else
  (void)c;
  (void)group;
  snprintf(err, err_len, "packet fanout needs Linux (PACKET_FANOUT)");
  return -1;
#endif
}

/* Reads pcap_stats into 64-bit sums. Only the capture thread (or the JS thread once the thread
 * is gone) touches the pcap handle, so libpcap is never used from two threads at once. */
static void refresh_stats(lt_capture *c) {
  struct pcap_stat st;
  if (!c->p || pcap_stats(c->p, &st) != 0) return;
  pthread_mutex_lock(&c->mu);
  c->stats.received += (uint32_t)(st.ps_recv - c->raw_recv);
  c->stats.dropped += (uint32_t)(st.ps_drop - c->raw_drop);
  c->stats.if_dropped += (uint32_t)(st.ps_ifdrop - c->raw_ifdrop);
  c->raw_recv = st.ps_recv;
  c->raw_drop = st.ps_drop;
  c->raw_ifdrop = st.ps_ifdrop;
  c->stats.valid = 1;
  pthread_mutex_unlock(&c->mu);
  c->last_stats_ms = lt_now_ms();
}

void lt_read_stats(lt_capture *c, lt_stats *out) {
  pthread_mutex_lock(&c->mu);
  *out = c->stats;
  pthread_mutex_unlock(&c->mu);
}

/* Hands the current slot to JavaScript (if it holds packets) and takes the next free one,
 * waiting while all are queued. Returns 0, or -1 when stopping. Called on the capture thread. */
static int rotate_slot(lt_capture *c, int need_next) {
  pthread_mutex_lock(&c->mu);
  if (c->cur >= 0 && c->slots[c->cur].count > 0) {
    int s = c->cur;
    c->slots[s].state = LT_SLOT_QUEUED;
    c->stats.batches++;
    c->cur = -1;
    pthread_mutex_unlock(&c->mu);
    /* Queue size equals the slot count, so this never blocks for long. */
    napi_call_threadsafe_function(c->tsfn, (void *)(intptr_t)s, napi_tsfn_blocking);
    pthread_mutex_lock(&c->mu);
  }
  if (!need_next) {
    pthread_mutex_unlock(&c->mu);
    return 0;
  }
  while (c->cur < 0 && !c->stopping) {
    for (int i = 0; i < c->nslots; i++) {
      if (c->slots[i].state == LT_SLOT_FREE) {
        c->cur = i;
        c->slots[i].state = LT_SLOT_FILLING;
        c->slots[i].count = 0;
        c->slots[i].used = 0;
        break;
      }
    }
    if (c->cur < 0) pthread_cond_wait(&c->cv, &c->mu);
  }
  int ok = c->cur >= 0 ? 0 : -1;
  pthread_mutex_unlock(&c->mu);
  return ok;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  lt_capture *c = (lt_capture *)user;
  if (c->skip_loop_out && h->caplen >= 4) {
    unsigned pkttype = ((unsigned)bytes[0] << 8) | bytes[1];
    unsigned hatype = ((unsigned)bytes[2] << 8) | bytes[3];
    if (pkttype == SLL_PKTTYPE_OUTGOING && hatype == ARPHRD_LOOPBACK_TYPE) {
      c->stats.loop_dup_skipped++; /* only this thread writes it; read under mu */
      return;
    }
  }
  double ts_us = (double)h->ts.tv_sec * 1e6 + (c->nano ? (double)h->ts.tv_usec / 1e3
                                                        : (double)h->ts.tv_usec);
  if (ts_us < c->fanout_since_us) {
    c->stats.fanout_prejoin_skipped++; /* only this thread writes it; read under mu */
    return;
  }
  if (c->cur < 0) return; /* stopping */
  lt_slot *s = &c->slots[c->cur];
  if (s->count >= c->max_packets || s->used + h->caplen > s->buf_cap) {
    if (rotate_slot(c, 1) != 0) {
      pcap_breakloop(c->p);
      return;
    }
    s = &c->slots[c->cur];
  }
  if (s->count == 0) c->batch_deadline_ms = lt_now_ms() + c->timeout_ms;
  uint32_t i = s->count;
  uint32_t caplen = h->caplen <= s->buf_cap ? h->caplen : (uint32_t)s->buf_cap;
  memcpy(s->buf + s->used, bytes, caplen);
  s->offset[i] = (uint32_t)s->used;
  s->cap_len[i] = caplen;
  s->wire_len[i] = h->len;
  s->ts_us[i] = ts_us;
  s->link_type[i] = (uint16_t)c->link_type;
  s->if_index[i] = 0;
  s->used += caplen;
  s->count = i + 1;
}

static void set_error(lt_capture *c, const char *msg) {
  pthread_mutex_lock(&c->mu);
  if (!c->error[0]) snprintf(c->error, sizeof c->error, "%s", msg);
  pthread_mutex_unlock(&c->mu);
}

static void *capture_main(void *arg) {
  lt_capture *c = (lt_capture *)arg;
  struct pollfd fds[2];
  fds[0].fd = pcap_get_selectable_fd(c->p);
  fds[0].events = POLLIN;
  fds[1].fd = c->wake_fd[0];
  fds[1].events = POLLIN;
  if (rotate_slot(c, 1) != 0) goto done;
  while (!c->stopping) {
    int wait = c->timeout_ms;
    lt_slot *s = &c->slots[c->cur];
    if (s->count > 0) {
      double left = c->batch_deadline_ms - lt_now_ms();
      wait = left <= 0 ? 0 : (int)left + 1;
    }
    int pr = poll(fds, 2, wait);
    if (pr < 0 && errno != EINTR) {
      set_error(c, strerror(errno));
      break;
    }
    if (c->stopping) break;
    int n = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
    if (n == PCAP_ERROR) {
      set_error(c, pcap_geterr(c->p));
      break;
    }
    if (c->cur < 0) break; /* stopping while waiting for a slot */
    s = &c->slots[c->cur];
    double now = lt_now_ms();
    if (s->count > 0 && now >= c->batch_deadline_ms) {
      if (rotate_slot(c, 1) != 0) break;
    }
    if (now - c->last_stats_ms >= 100) refresh_stats(c);
  }
done:
  /* Deliver what was captured before the stop, then take final statistics. */
  if (c->cur >= 0) pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
  rotate_slot(c, 0);
  refresh_stats(c);
  napi_release_threadsafe_function(c->tsfn, napi_tsfn_release);
  return NULL;
}

int lt_start_thread(lt_capture *c, char *err, size_t err_len) {
  if (pipe2(c->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
    snprintf(err, err_len, "pipe: %s", strerror(errno));
    return -1;
  }
  refresh_stats(c);
  int rc = pthread_create(&c->thread, NULL, capture_main, c);
  if (rc != 0) {
    snprintf(err, err_len, "pthread_create: %s", strerror(rc));
    return -1;
  }
  c->thread_started = 1;
  return 0;
}

void lt_request_stop(lt_capture *c) {
  pthread_mutex_lock(&c->mu);
  c->stopping = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (c->wake_fd[1] >= 0) {
    char b = 1;
    ssize_t w = write(c->wake_fd[1], &b, 1);
    (void)w;
  }
}

/* Called on the JS thread once the capture thread has finished (or was never started). */
void lt_close_handle(lt_capture *c) {
  if (c->thread_started) {
    pthread_join(c->thread, NULL);
    c->thread_started = 0;
  }
  if (!c->closed && c->p) {
    pcap_close(c->p);
    c->p = NULL;
    c->closed = 1;
  }
  for (int i = 0; i < 2; i++) {
    if (c->wake_fd[i] >= 0) close(c->wake_fd[i]);
    c->wake_fd[i] = -1;
  }
}
