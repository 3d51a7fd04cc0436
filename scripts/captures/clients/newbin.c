/*
 * A tiny, new TLS client binary (its SHA-256 is its own, not an interpreter's): resolves a
 * name, connects, sends one HTTP/1.1 GET over TLS with SNI, reads the answer.
 *
 *   newbin HOST CA.pem [4|6]     (address family, default 4)
 */
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) { fprintf(stderr, "usage: %s HOST CA.pem [4|6]\n", argv[0]); return 2; }
  const char *host = argv[1];
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = argc == 4 && strcmp(argv[3], "6") == 0 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, "443", &hints, &ai) != 0 || ai == NULL) { fprintf(stderr, "resolve failed\n"); return 1; }
  int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) { perror("connect"); return 1; }
  freeaddrinfo(ai);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1) { fprintf(stderr, "bad CA\n"); return 1; }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  SSL *ssl = SSL_new(ctx);
  SSL_set_tlsext_host_name(ssl, host);
  SSL_set1_host(ssl, host);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); return 1; }
  char req[512];
  int n = snprintf(req, sizeof req, "GET /v1/models HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
  SSL_write(ssl, req, n);
  char buf[4096];
  long total = 0;
  int r;
  while ((r = SSL_read(ssl, buf, sizeof buf)) > 0) total += r;
  printf("%ld\n", total);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return 0;
}
