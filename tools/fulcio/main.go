// Command imgsign-fulcio serves sigstore's Fulcio (the certificate authority
// of keyless signing) from its Go packages on 127.0.0.1, for tests
// (internal/testing/fulcioenv): an ephemeral in-memory CA (Fulcio's
// ephemeralca), no CT log, and the OIDC issuers of the Fulcio config file
// given with -config. It is Fulcio's own server (its gRPC CA service and the
// HTTP gateway in front of it, v2 and legacy v1 APIs, /healthz), wired as
// `fulcio serve --ca ephemeralca --ct-log-url ""` wires it, less what a test
// must not have: the fulcio binary always opens a metrics listener on all
// interfaces (and, unless told otherwise, gRPC on 0.0.0.0 and a Unix socket
// under /var/run). Both listeners here are on 127.0.0.1 with ports the
// kernel picks; the HTTP one is printed and written to -addr-file.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	grpcmw "github.com/grpc-ecosystem/go-grpc-middleware"
	grpc_recovery "github.com/grpc-ecosystem/go-grpc-middleware/recovery"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/sigstore/fulcio/pkg/ca/ephemeralca"
	"github.com/sigstore/fulcio/pkg/config"
	gw "github.com/sigstore/fulcio/pkg/generated/protobuf"
	legacy "github.com/sigstore/fulcio/pkg/generated/protobuf/legacy"
	"github.com/sigstore/fulcio/pkg/log"
	"github.com/sigstore/fulcio/pkg/server"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	health "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

func main() {
	configPath := flag.String("config", "", "Fulcio config (JSON or YAML): the OIDC issuers it trusts")
	addrFile := flag.String("addr-file", "", "write the HTTP host:port here once listening")
	flag.Parse()
	if err := run(*configPath, *addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "imgsign-fulcio:", err)
		os.Exit(3)
	}
}

func run(configPath, addrFile string) error {
	if configPath == "" {
		return fmt.Errorf("-config is required")
	}
	log.ConfigureLogger("dev")
	// config.Load falls back to Fulcio's public-good defaults when the file
	// is missing; a test must never trust those.
	b, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	cfg, err := config.Read(b)
	if err != nil {
		return fmt.Errorf("loading %s: %w", configPath, err)
	}
	baseca, err := ephemeralca.NewEphemeralCA()
	if err != nil {
		return err
	}
	defer baseca.Close()
	// Fulcio's default --client-signing-algorithms.
	algs, err := signature.NewAlgorithmRegistryConfig([]v1.PublicKeyDetails{
		v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		v1.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
		v1.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
		v1.PublicKeyDetails_PKIX_ED25519,
	})
	if err != nil {
		return err
	}

	// The gRPC CA service, with the interceptors of Fulcio's serve command
	// that change behaviour (panic recovery, the config in the context).
	grpcServer := grpc.NewServer(
		grpc.UnaryInterceptor(grpcmw.ChainUnaryServer(
			grpc_recovery.UnaryServerInterceptor(),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				return handler(config.With(ctx, cfg), req)
			},
		)),
		grpc.MaxRecvMsgSize(1<<22),
	)
	ca := server.NewGRPCCAServer(nil, baseca, algs, server.NewIssuerPool(cfg))
	health.RegisterHealthServer(grpcServer, ca)
	gw.RegisterCAServer(grpcServer, ca)
	legacy.RegisterCAServer(grpcServer, server.NewLegacyGRPCCAServer(ca))
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = grpcServer.Serve(grpcLn) }()

	// The HTTP gateway, as Fulcio's createHTTPServer builds it.
	ctx := context.Background()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	endpoint := grpcLn.Addr().String()
	cc, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		return err
	}
	mux := runtime.NewServeMux(
		runtime.WithMetadata(func(_ context.Context, req *http.Request) metadata.MD {
			token := strings.Replace(req.Header.Get("Authorization"), "Bearer ", "", 1)
			return metadata.Pairs(server.MetadataOIDCTokenKey, token)
		}),
		runtime.WithForwardResponseOption(setResponseCode),
		runtime.WithHealthzEndpoint(health.NewHealthClient(cc)),
	)
	if err := gw.RegisterCAHandlerFromEndpoint(ctx, mux, endpoint, opts); err != nil {
		return err
	}
	if err := legacy.RegisterCAHandlerFromEndpoint(ctx, mux, endpoint, opts); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{
		Handler:           server.WithMaxBytes(mux, 1<<22),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
	}
	return srv.Serve(ln)
}

// setResponseCode is Fulcio's setResponseCodeModifier: the SCT header, no
// Grpc-* headers, and the HTTP status the CA service asks for.
func setResponseCode(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return nil
	}
	if vals := md.HeaderMD.Get(server.SCTMetadataKey); len(vals) > 0 {
		delete(md.HeaderMD, server.SCTMetadataKey)
		delete(w.Header(), "Grpc-Metadata-sct")
		w.Header().Set("SCT", vals[0])
	}
	for k := range w.Header() {
		if strings.HasPrefix(k, "Grpc-") {
			delete(w.Header(), k)
		}
	}
	if vals := md.HeaderMD.Get(server.HTTPResponseCodeMetadataKey); len(vals) > 0 {
		code, err := strconv.Atoi(vals[0])
		if err != nil {
			return err
		}
		delete(md.HeaderMD, server.HTTPResponseCodeMetadataKey)
		w.WriteHeader(code)
	}
	return nil
}
