#!/bin/sh
# gen-tls.sh — the TLS certificate of imgsign serve, and the CA the API server
# (and Gatekeeper) trust it with.
#
#   deploy/kubernetes/gen-tls.sh [-n NAMESPACE] [-s SERVICE] [-o DIR] [--days N]
#                                [--webhooks FILE] [--gatekeeper] [--no-apply]
#
# 1. Makes a private CA in DIR (ca.crt, ca.key; kept and reused on later runs,
#    so renewing the certificate never changes the caBundle) and a server
#    certificate for SERVICE.NAMESPACE.svc signed by it (tls.crt, tls.key;
#    ECDSA P-256, valid --days, default 365).
# 2. Unless --no-apply, with kubectl on the current context:
#    - creates or updates the kubernetes.io/tls Secret SERVICE-tls in NAMESPACE
#      (imgsign serve reloads the new certificate without a restart);
#    - with --webhooks FILE (deploy/kubernetes/webhooks.yaml, which names the
#      defaults), applies FILE with clientConfig.caBundle filled in; without
#      it, sets the caBundle of
#      the ValidatingWebhookConfiguration and MutatingWebhookConfiguration
#      named SERVICE, when they exist;
#    - with --gatekeeper, applies deploy/gatekeeper/provider.yaml with the
#      caBundle filled in (Gatekeeper refuses a Provider without one).
#    With --no-apply, the filled-in files are written to DIR instead
#    (webhooks.yaml, provider.yaml).
# 3. Prints the base64 caBundle (for the Helm chart's tls.caBundle value).
#
# Defaults: NAMESPACE=imgsign, SERVICE=imgsign, DIR=./imgsign-tls.
# Needs openssl; kubectl unless --no-apply. Keep DIR/ca.key private (or
# delete it: the next run then makes a new CA and sets the new caBundle).
set -eu

namespace=imgsign service=imgsign dir=./imgsign-tls days=365 apply=1 gatekeeper=0 webhooks=
while [ $# -gt 0 ]; do
	case $1 in
	-n | --namespace) namespace=$2; shift 2 ;;
	-s | --service) service=$2; shift 2 ;;
	-o | --out) dir=$2; shift 2 ;;
	--days) days=$2; shift 2 ;;
	--webhooks) webhooks=$2; shift 2 ;;
	--gatekeeper) gatekeeper=1; shift ;;
	--no-apply) apply=0; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "gen-tls.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ -n "$webhooks" ]; then
	[ -r "$webhooks" ] || { echo "gen-tls.sh: cannot read $webhooks" >&2; exit 2; }
	# webhooks.yaml names the imgsign Service in namespace imgsign; the Helm
	# chart renders other names.
	[ "$namespace.$service" = imgsign.imgsign ] || { echo "gen-tls.sh: --webhooks is for deploy/kubernetes as written (namespace and Service imgsign): for other names use the Helm chart" >&2; exit 2; }
fi
command -v openssl >/dev/null || { echo "gen-tls.sh: openssl not found: install it (Debian: apt-get install openssl)" >&2; exit 2; }
[ "$apply" = 0 ] || command -v kubectl >/dev/null || { echo "gen-tls.sh: kubectl not found: install it, or pass --no-apply" >&2; exit 2; }

mkdir -p "$dir"
umask 077
host=$service.$namespace.svc

# The CA: reused while it is valid for at least the new certificate's lifetime.
if [ ! -s "$dir/ca.crt" ] || [ ! -s "$dir/ca.key" ] ||
	! openssl x509 -checkend $((days * 86400)) -noout -in "$dir/ca.crt" >/dev/null; then
	echo "gen-tls.sh: new CA in $dir/ca.crt" >&2
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$dir/ca.key" -out "$dir/ca.crt" -days $((days * 10)) \
		-subj "/CN=imgsign webhook CA ($namespace)" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

ext=$(mktemp)
trap 'rm -f "$ext" "$dir/tls.csr"' EXIT
cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$service,DNS:$service.$namespace,DNS:$host,DNS:$host.cluster.local
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$dir/tls.key" -out "$dir/tls.csr" -subj "/CN=$host" 2>/dev/null
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
	-days "$days" -extfile "$ext" -out "$dir/tls.crt" 2>/dev/null
rm -f "$dir/ca.srl"
echo "gen-tls.sh: certificate for $host in $dir/tls.crt (valid $days days)" >&2

cabundle=$(base64 <"$dir/ca.crt" | tr -d '\n')

# with_cabundle FILE: FILE with "caBundle: <ca>" under every clientConfig.
with_cabundle() {
	awk -v ca="$cabundle" '{ print } /^ *clientConfig: *$/ { match($0, /^ */); printf "%s  caBundle: %s\n", substr($0, 1, RLENGTH), ca }' "$1"
}
# provider: deploy/gatekeeper/provider.yaml with the caBundle and the Service's
# host (the Providers keep their names, which the Gatekeeper objects use).
provider() {
	sed -e "s|caBundle: .*|caBundle: $cabundle|" \
		-e "s|https://imgsign\.imgsign\.svc:|https://$host:|" "$(dirname "$0")/../gatekeeper/provider.yaml"
}

if [ "$apply" = 0 ]; then
	[ -z "$webhooks" ] || with_cabundle "$webhooks" >"$dir/webhooks.yaml"
	[ "$gatekeeper" = 0 ] || provider >"$dir/provider.yaml"
else
	kubectl -n "$namespace" create secret tls "$service-tls" --cert="$dir/tls.crt" --key="$dir/tls.key" \
		--dry-run=client -o yaml | kubectl apply -f -
	if [ -n "$webhooks" ]; then
		with_cabundle "$webhooks" | kubectl apply -f -
	else
		for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
			if kubectl get "$kind" "$service" >/dev/null 2>&1; then
				n=$(kubectl get "$kind" "$service" -o jsonpath='{range .webhooks[*]}x{end}')
				i=0 patch=
				while [ "$i" -lt "${#n}" ]; do
					patch="$patch${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$cabundle\"}"
					i=$((i + 1))
				done
				kubectl patch "$kind" "$service" --type=json -p "[$patch]"
			else
				echo "gen-tls.sh: no $kind $service (yet): its caBundle is not set" >&2
			fi
		done
	fi
	[ "$gatekeeper" = 0 ] || provider | kubectl apply -f -
fi
echo "$cabundle"
