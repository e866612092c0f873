#!/usr/bin/env bash
# Creates the CA and the certificates of a vitrage deployment with
# openssl(1) (docs/security.md). Keys are EC P-256, unencrypted, mode 600.
#
#   deploy/make-certs.sh DIR ca [DAYS]
#       a new CA: DIR/ca.pem (give to every process as [ssl] ca_file) and
#       DIR/ca.key (keep offline)
#   deploy/make-certs.sh DIR cert NAME ROLE[,ROLE...] [SAN,...] [DAYS]
#       DIR/NAME.pem + DIR/NAME.key signed by DIR/ca.*, with the URI SAN
#       spiffe://vitrage/ROLE for each role ("-": none, for tests), plus the SANs (default
#       IP:127.0.0.1,DNS:localhost: list every address clients use to reach
#       the process, e.g. DNS:ctl1.mgmt,IP:10.0.0.5)
#
# Roles: graph, collector, persistor, admin (vitrage-ctl), reader.
set -euo pipefail

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -ge 2 ] || usage
DIR=$1
WHAT=$2
mkdir -p "$DIR"
umask 077

case $WHAT in
ca)
	DAYS=${3:-3650}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$DIR/ca.key" -out "$DIR/ca.pem" -days "$DAYS" \
		-subj "/O=vitrage/CN=vitrage CA $(date -u +%Y%m%d%H%M%S)-$$" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	chmod 644 "$DIR/ca.pem"
	echo "$DIR/ca.pem"
	;;
cert)
	[ $# -ge 4 ] || usage
	NAME=$3
	ROLES=$4
	SANS=${5:-IP:127.0.0.1,DNS:localhost}
	DAYS=${6:-825}
	[ -r "$DIR/ca.pem" ] && [ -r "$DIR/ca.key" ] || {
		echo "make-certs: no CA in $DIR (run: $0 $DIR ca)" >&2
		exit 1
	}
	uris=""
	roles=()
	[ "$ROLES" = - ] || IFS=, read -ra roles <<<"$ROLES"
	for r in "${roles[@]+"${roles[@]}"}"; do
		[[ $r =~ ^[A-Za-z0-9._-]+$ ]] || {
			echo "make-certs: bad role \"$r\"" >&2
			exit 2
		}
		uris+="URI:spiffe://vitrage/$r,"
	done
	ext=$(mktemp)
	trap 'rm -f "$ext" "$DIR/$NAME.csr"' EXIT
	printf '%s\n' "subjectAltName=${uris}${SANS}" \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$DIR/$NAME.key" -out "$DIR/$NAME.csr" \
		-subj "/O=vitrage/CN=$NAME" 2>/dev/null
	openssl x509 -req -in "$DIR/$NAME.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
		-CAcreateserial -out "$DIR/$NAME.pem" -days "$DAYS" -extfile "$ext" 2>/dev/null
	chmod 644 "$DIR/$NAME.pem"
	echo "$DIR/$NAME.pem"
	;;
*) usage ;;
esac
