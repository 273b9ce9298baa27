#!/usr/bin/env bash
# Peer tools the end-to-end benches measure beside kcql, in the same run (issue 16).
#
#   scripts/peers.sh            install every peer (idempotent)
#   scripts/peers.sh telegraf   install only Telegraf
#
# Telegraf: a custom build of the Go module github.com/influxdata/telegraf at $TELEGRAF_VERSION
# with only the plugins the benches use (see TELEGRAF_TAGS), into $REPO/target/peers/telegraf.
# The module source comes from the Go module proxy through `go mod download` (cached in the Go
# module cache, like its dependencies); it is copied to target/peers/src and built there, so its
# own go.mod/go.sum pin every dependency. Skipped when target/peers/telegraf already reports
# that version. A build takes several minutes on 2 cores the first time.
#
# Environment:
#   GO                     the go command (default: `go` on PATH, else /usr/local/go/bin/go)
#   KCQL_PEERS_DIR         override the install directory (default $REPO/target/peers)
#   TELEGRAF_VERSION       module version to build (default v1.37.2)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
PEERS_DIR=${KCQL_PEERS_DIR:-$REPO/target/peers}
TELEGRAF_VERSION=${TELEGRAF_VERSION:-v1.37.2}
TELEGRAF_MODULE=github.com/influxdata/telegraf
# `custom` turns off every plugin but the ones named (docs/CUSTOMIZATION.md in Telegraf; each tag
# is the build constraint of a file in plugins/<category>/all/). outputs.kafka needs a serializer
# for its data_format (influx for line protocol, json); outputs.influxdb links the influx
# serializer itself. parsers.value covers MQTT payloads that are not JSON.
TELEGRAF_TAGS=custom,inputs.kafka_consumer,inputs.mqtt_consumer,outputs.kafka,outputs.influxdb,parsers.json,parsers.value,serializers.influx,serializers.json

die() {
    echo "peers.sh: $*" >&2
    exit 1
}

find_go() {
    if [[ -n ${GO:-} ]]; then
        echo "$GO"
    elif command -v go >/dev/null 2>&1; then
        command -v go
    elif [[ -x /usr/local/go/bin/go ]]; then
        echo /usr/local/go/bin/go
    else
        die "no Go toolchain: install Go (1.24 or newer) or set GO=/path/to/go"
    fi
}

install_telegraf() {
    local bin=$PEERS_DIR/telegraf want=${TELEGRAF_VERSION#v}
    if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -qF "Telegraf $want"; then
        echo "telegraf $want already installed: $bin"
        return 0
    fi
    local go
    go=$(find_go)
    mkdir -p "$PEERS_DIR"
    echo "downloading $TELEGRAF_MODULE@$TELEGRAF_VERSION (Go module proxy) ..."
    local json dir
    json=$(cd "$PEERS_DIR" && GOFLAGS=-mod=mod "$go" mod download -json "$TELEGRAF_MODULE@$TELEGRAF_VERSION") ||
        die "go mod download $TELEGRAF_MODULE@$TELEGRAF_VERSION failed (is the Go module proxy reachable? GOPROXY=$("$go" env GOPROXY))"
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
    [[ -n $dir && -d $dir ]] || die "go mod download gave no source directory: $json"

    # The module cache is read-only; build in a private copy so `go build` may update go.sum.
    local src=$PEERS_DIR/src/telegraf-$want
    rm -rf "$src"
    mkdir -p "$(dirname "$src")"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"

    echo "building telegraf $want (tags $TELEGRAF_TAGS) ..."
    local start=$SECONDS
    (cd "$src" && CGO_ENABLED=0 "$go" build -mod=mod -tags "$TELEGRAF_TAGS" \
        -ldflags "-s -w -X $TELEGRAF_MODULE/internal.Version=$want" \
        -o "$bin.tmp" ./cmd/telegraf) || die "go build of telegraf $want failed (see above)"
    mv "$bin.tmp" "$bin"
    rm -rf "$src"
    rmdir --ignore-fail-on-non-empty "$(dirname "$src")"
    "$bin" --version >/dev/null || die "$bin does not run"
    echo "telegraf $want built in $((SECONDS - start)) s: $bin ($(du -h "$bin" | cut -f1))"
}

main() {
    local peers=("$@")
    [[ ${#peers[@]} -gt 0 ]] || peers=(telegraf)
    for peer in "${peers[@]}"; do
        case $peer in
        telegraf) install_telegraf ;;
        *) die "unknown peer '$peer' (known: telegraf)" ;;
        esac
    done
}

main "$@"
