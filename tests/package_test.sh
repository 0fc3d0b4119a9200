#!/usr/bin/env bash
# The Debian package (issue 15, running as a service), made and installed as an operator would:
#  - `cpack` makes it from this build folder: the binary, the systemd units, the docs, the
#    maintainer scripts, its Depends computed by dpkg-shlibdeps; apt would install it here;
#  - `dpkg --root` installs it into a throwaway root of the test's own (its own dpkg database, and
#    systemd's unit files as a Debian 12 with systemd has them); the maintainer scripts run outside
#    it with DPKG_ROOT set (`--force-script-chrootless`: the root holds no shell to chroot into),
#    and the postinst makes the `ecash` user and its folders in that root, never on this machine;
#  - the INSTALLED binary runs `ecash demo`;
#  - `systemd-analyze verify --root` passes on every installed unit, printing nothing: it only
#    warns of an unknown key or a misspelt option and still exits 0, so any line it prints fails;
#  - each service's command line, as its unit writes it (the state folder and the credential
#    moved to the test's folder), starts and stops cleanly on a real operator and shop;
#  - `dpkg --remove` takes the files away and leaves the user's data.
# usage: package_test.sh ECASH BUILD_DIR
source "$(dirname "$0")/cli_lib.sh"
build=$2
root=$dir/root
units=$root/usr/lib/systemd/system

skip() {
  [ -z "${CI:-}" ] || fail "CI cannot run this test: $*"
  echo "skipped: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "dpkg --root needs root (files owned by root, the postinst's user)"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps file apt-get systemd-analyze systemd-sysusers \
  systemd-tmpfiles; do
  command -v "$tool" >/dev/null || skip "$tool missing (bash scripts/install-deps.sh)"
done
[ -f "$build/CPackConfig.cmake" ] || fail "no CPackConfig.cmake in $build"

# The package.
cpack --config "$build/CPackConfig.cmake" -B "$dir/package" >"$dir/cpack.log" 2>&1 || fail "cpack"
debs=("$dir"/package/ecash_*.deb)
deb=${debs[0]}
[ -f "$deb" ] || fail "cpack made no ecash_*.deb"
control() { dpkg-deb -f "$deb" "$1"; }
[ "$(control Package)" = ecash ] || fail "the package is called $(control Package)"
[ "$(control Architecture)" = "$(dpkg --print-architecture)" ] || fail "architecture $(control Architecture)"
for dependency in systemd libc6 libssl3 libsodium23 libsqlite3-0; do
  control Depends | grep -Eq "(^|, )$dependency( |,|$)" || fail "Depends lacks $dependency: $(control Depends)"
done
# apt, asked for this machine (a Debian 12 with the build's libraries), would install it.
apt-get install --simulate "$deb" >"$dir/apt.log" 2>&1 || fail "apt-get install --simulate"
grep -q '^Inst ecash ' "$dir/apt.log" || fail "apt would not install ecash"

# The throwaway root, and the package installed into it.
mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
host_had_ecash=$(getent passwd ecash || true)
dpkg --root="$root" --log=/dev/null --force-depends --force-script-chrootless -i "$deb" \
  >"$dir/dpkg.log" 2>&1 || fail "dpkg --root -i"
dpkg --root="$root" -s ecash 2>/dev/null | grep -qx 'Status: install ok installed' || fail "dpkg says ecash is not installed"
[ -n "$host_had_ecash" ] || ! getent passwd ecash >/dev/null || fail "the postinst made the ecash user on this machine"

[ -x "$root/usr/bin/ecash" ] || fail "no /usr/bin/ecash"
for file in usr/lib/systemd/system/ecash-operator@.service usr/lib/systemd/system/ecash-sandbox.service \
  usr/lib/systemd/system/ecash-shop@.service usr/lib/systemd/system/ecash-operator-sweep.service \
  usr/lib/systemd/system/ecash-operator-sweep.timer usr/lib/sysusers.d/ecash.conf usr/lib/tmpfiles.d/ecash.conf \
  usr/share/doc/ecash/README.md usr/share/doc/ecash/deploy.md usr/share/doc/ecash/performance.md \
  usr/share/doc/ecash/merchant-api.json var/lib/dpkg/info/ecash.postinst var/lib/dpkg/info/ecash.prerm \
  var/lib/dpkg/info/ecash.postrm; do
  [ -f "$root/$file" ] || fail "the package installed no /$file"
done
IFS=: read -r _ _ uid gid _ home shell < <(grep '^ecash:' "$root/etc/passwd") || fail "the postinst made no ecash user"
[ "$home:$shell" = /var/lib/ecash:/usr/sbin/nologin ] || fail "the ecash user's home and shell: $home $shell"
[ "$(stat -c '%u:%g %a' "$root/var/lib/ecash")" = "$uid:$gid 700" ] || fail "/var/lib/ecash is $(stat -c '%u:%g %a' "$root/var/lib/ecash")"
[ "$(stat -c '%u:%g %a' "$root/etc/ecash")" = "0:0 700" ] || fail "/etc/ecash is $(stat -c '%u:%g %a' "$root/etc/ecash")"

# The installed binary.
"$root/usr/bin/ecash" --version | grep -q '^ecash ' || fail "the installed ecash --version"
mkdir -p "$dir/tmp" "$dir/home"
HOME=$dir/home TMPDIR=$dir/tmp "$root/usr/bin/ecash" demo >"$dir/demo.log" 2>&1 || fail "the installed ecash demo"
tail -n 1 "$dir/demo.log" | grep -q 'every cent accounted for' || fail "the demo did not end with its books"

# The units: each service runs as the ecash user, hardened, its passphrase a credential.
for unit in "$units"/ecash-*.service; do
  for line in User=ecash ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes \
    StateDirectory=ecash 'LoadCredential=ecash-passphrase:/etc/ecash/'; do
    grep -q "^$line" "$unit" || fail "$(basename "$unit") has no $line"
  done
  # shellcheck disable=SC2016 # the unit's own words, not this shell's
  grep -q '^ExecStart=/usr/bin/ecash .* --passphrase-file ${CREDENTIALS_DIRECTORY}/ecash-passphrase' "$unit" \
    || fail "$(basename "$unit") does not run /usr/bin/ecash with the credential"
done
# systemd's own units beside them (sysinit.target and the rest the services are ordered after), as
# a Debian 12 with systemd installed has them; the package's units are not overwritten.
cp -rn /usr/lib/systemd/system/. "$units/"
systemd-analyze verify --root="$root" ecash-operator@all.service ecash-operator@ca.service \
  ecash-operator@center.service ecash-operator@bank.service ecash-operator@clearing.service \
  ecash-sandbox.service ecash-shop@cafe.service ecash-operator-sweep.service \
  ecash-operator-sweep.timer >"$dir/verify.log" 2>&1 || fail "systemd-analyze verify"
[ ! -s "$dir/verify.log" ] || fail "systemd-analyze verify warned"

# Each service's command line as its unit has it, with /var/lib/ecash moved to $srv, the
# credentials folder systemd would make to $dir/credentials-NAME, and the options that
# /etc/default/ecash may add in their variable.
srv=$dir/srv
mkdir -p "$srv" "$dir/credentials-operator" "$dir/credentials-shop"
echo "operator passphrase $RANDOM$RANDOM" >"$dir/credentials-operator/ecash-passphrase"
echo "shop passphrase $RANDOM$RANDOM" >"$dir/credentials-shop/ecash-passphrase"
installed=$root/usr/bin/ecash
command_of() {  # command_of UNIT INSTANCE CREDENTIALS OPTIONS: its ExecStart's words, one a line
  local line
  line=$(grep '^ExecStart=' "$units/$1" | head -n 1)
  line=${line#ExecStart=}
  line=${line//\/var\/lib\/ecash/$srv}
  # shellcheck disable=SC2016 # the unit's own words, not this shell's
  line=${line//'${CREDENTIALS_DIRECTORY}'/$dir/credentials-$3}
  line=${line//%i/$2}
  line=$(sed -E "s/[$]ECASH_[A-Z]+_OPTIONS/$4/" <<<"$line")
  [[ $line == /usr/bin/ecash\ * ]] || fail "$1 runs ${line%% *}"
  # shellcheck disable=SC2086 # the unit's words, split as systemd splits them (none is quoted)
  printf '%s\n' $line
}
run_unit() {  # run_unit NAME UNIT INSTANCE CREDENTIALS OPTIONS: in the background, as $started
  local name=$1 words
  mapfile -t words < <(command_of "$2" "$3" "$4" "$5")
  "$root${words[0]}" "${words[@]:1}" >"$dir/$name.log" 2>&1 &
  started=$!
  procs+=("$started")
}
stop_unit() {  # stop_unit PID NAME: as systemd stops it (SIGTERM), which it must survive cleanly
  kill -TERM "$1"
  wait "$1" || fail "$2 did not stop cleanly on SIGTERM"
}
op_pass=(--passphrase-file "$dir/credentials-operator/ecash-passphrase")
"$installed" operator init --data "$srv/operator" "${op_pass[@]}" >"$dir/init.log" 2>&1 || fail "operator init"
"$installed" sandbox account DE89370400440532013000 --holder "Corner Cafe" --data "$srv/operator" \
  "${op_pass[@]}" >>"$dir/init.log" 2>&1 || fail "sandbox account"

for keys in "$srv"/operator/{ca,center,bank,clearing}/*.keys; do
  head -n 1 "$keys" | grep -qx ecash-sealed-v1 || fail "$keys is not sealed with the passphrase"
done
run_unit operator ecash-operator@.service all operator "--listen 127.0.0.1:0"
operator=$started
url=$(wait_for "$srv/operator/center/listening")
"$installed" shop init --home "$srv/shops/cafe" --operator "$url" --name "Corner Cafe" \
  --account DE89370400440532013000 --passphrase-file "$dir/credentials-shop/ecash-passphrase" \
  >>"$dir/init.log" 2>&1 || fail "shop init"
head -n 1 "$srv/shops/cafe/shop.keys" | grep -qx ecash-sealed-v1 || fail "the shop's keys are not sealed"
run_unit shop ecash-shop@.service cafe shop ""
shop_unit=$started
wait_for "$srv/shops/cafe/listening" >/dev/null
"$installed" shop --home "$srv/shops/cafe" order 3.50 --item "flat white" \
  --passphrase-file "$dir/credentials-shop/ecash-passphrase" >"$dir/order.log" 2>&1 || fail "shop order"
stop_unit "$shop_unit" "ecash-shop@cafe"
stop_unit "$operator" "ecash-operator@all"

# The sandboxes in their own process, and the sweep the timer starts.
rm -f "$srv/operator/sandbox/listening"
run_unit sandbox ecash-sandbox.service "" operator ""
sandbox=$started
wait_for "$srv/operator/sandbox/listening" >/dev/null
stop_unit "$sandbox" "ecash-sandbox"
mapfile -t sweep < <(command_of ecash-operator-sweep.service "" operator "")
"$root${sweep[0]}" "${sweep[@]:1}" >"$dir/sweep.log" 2>&1 || fail "the sweep's command line"

# Removed: the files go, the operator's data stays.
dpkg --root="$root" --log=/dev/null --force-script-chrootless -r ecash >>"$dir/dpkg.log" 2>&1 || fail "dpkg --root -r"
if [ -e "$root/usr/bin/ecash" ] || [ -e "$units/ecash-operator@.service" ]; then
  fail "dpkg -r left the package's files"
fi
[ -d "$root/var/lib/ecash" ] || fail "dpkg -r took /var/lib/ecash"
echo "package: $(basename "$deb") built, installed into a throwaway root, demo run, units verified and run, removed"
