package main

// The release container image is FROM scratch: no /etc/ssl/certs. With
// this package, Go falls back to the Mozilla roots compiled in when, and
// only when, the system has none, so imgsign serve reaches HTTPS
// registries there; everywhere else the system's roots are used.
import _ "golang.org/x/crypto/x509roots/fallback"
