/* Interface listing through pcap_findalldevs: name plus address text (IPv4 dotted quad, IPv6
 * RFC 5952 as inet_ntop writes it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

napi_value lt_list_interfaces(napi_env env, napi_callback_info info) {
  char ebuf[PCAP_ERRBUF_SIZE];
  pcap_if_t *all = NULL;
  if (pcap_findalldevs(&all, ebuf) != 0) {
    napi_throw_error(env, "EPCAP", ebuf);
    return NULL;
  }
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t idx = 0;
  for (pcap_if_t *d = all; d; d = d->next) {
    napi_value obj, name, addrs;
    napi_create_object(env, &obj);
    napi_create_string_utf8(env, d->name, NAPI_AUTO_LENGTH, &name);
    napi_set_named_property(env, obj, "name", name);
    napi_create_array(env, &addrs);
    uint32_t ai = 0;
    for (pcap_addr_t *a = d->addresses; a; a = a->next) {
      if (!a->addr) continue;
      char text[INET6_ADDRSTRLEN];
      const char *ok = NULL;
      if (a->addr->sa_family == AF_INET) {
        ok = inet_ntop(AF_INET, &((struct sockaddr_in *)a->addr)->sin_addr, text, sizeof text);
      } else if (a->addr->sa_family == AF_INET6) {
        ok = inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->addr)->sin6_addr, text,
                       sizeof text);
      }
      if (!ok) continue;
      napi_value s;
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, addrs, ai++, s);
    }
    napi_set_named_property(env, obj, "addresses", addrs);
    napi_set_element(env, arr, idx++, obj);
  }
  pcap_freealldevs(all);
  return arr;
}
