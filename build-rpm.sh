#!/usr/bin/env bash
# Builds what an operator installs, in dist/packages/ (or $OUT_DIR):
#   oam-docker-ipam-VERSION-1.x86_64.rpm   (rpmbuild; Debian package "rpm")
#   oam-docker-ipam_VERSION-1_amd64.deb    (dpkg-deb)
# Both hold the same staged tree: the single executable in /usr/bin (no Node needed on the
# host), the systemd unit, the sample configuration (kept across upgrades: %config(noreplace),
# a Debian conffile), the docs and a man page generated from the executable's --help.
#
# Usage: ./build-rpm.sh VERSION        e.g. ./build-rpm.sh 0.1.0
# Needs: npm ci done (esbuild, postject), rpmbuild, dpkg-deb, strip, gzip. Run from any directory.
set -euo pipefail
cd "$(dirname "$0")"

VERSION="${1:-}"
# rpm versions may not contain "-", Debian upstream versions must start with a digit.
if ! [[ "$VERSION" =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
  echo "usage: $0 VERSION   (digits first, then letters, digits, . + ~; got \"$VERSION\")" >&2
  exit 2
fi
for tool in rpmbuild dpkg-deb strip gzip; do
  command -v "$tool" >/dev/null || { echo "build-rpm: $tool is missing (apt-get install rpm dpkg binutils gzip)" >&2; exit 1; }
done
[ -x node_modules/.bin/postject ] || { echo "build-rpm: node_modules is missing: run npm ci first" >&2; exit 1; }

OUT_DIR="${OUT_DIR:-dist/packages}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
# Reproducible dates (man page, archive members): the last commit's, when there is one.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
started=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - started) / 1000000 )) ms"; }

# Inside dist/, on the same file system as the executable: the 110 MB file is hard-linked into
# the staged trees instead of copied three times.
work="$(mktemp -d dist/.packages-XXXXXX)"
work="$(cd "$work" && pwd)"
trap 'rm -rf "$work"' EXIT

# 1. The executable.
node_modules/.bin/tsx packaging/build-sea.ts --version "$VERSION"
exe=dist/sea/oam-docker-ipam

# 2. The staged tree, owned by root in both packages (rpm: %defattr; dpkg-deb: --root-owner-group).
stage="$work/stage"
doc="$stage/usr/share/doc/oam-docker-ipam"
mkdir -p "$stage/usr/bin"
chmod 0755 "$exe"
ln "$exe" "$stage/usr/bin/oam-docker-ipam"
install -D -m 0644 systemd/oam-docker-ipam.service "$stage/usr/lib/systemd/system/oam-docker-ipam.service"
install -D -m 0644 systemd/oam-docker-ipam.socket "$stage/usr/lib/systemd/system/oam-docker-ipam.socket"
install -D -m 0644 etc/oam-docker-ipam/oam-docker-ipam.conf "$stage/etc/oam-docker-ipam/oam-docker-ipam.conf"
install -D -m 0644 README.md "$doc/README.md"
# docs/ as in the repository, so the README's links to docs/… work where it is installed.
for f in docs/*; do [ -f "$f" ] && install -D -m 0644 "$f" "$doc/$f"; done
install -m 0644 packaging/copyright "$doc/copyright"
install -m 0644 dist/sea/THIRD-PARTY-NOTICES "$doc/THIRD-PARTY-NOTICES"
mkdir -p "$stage/usr/share/man/man1"
"$exe" --help | node_modules/.bin/tsx packaging/man-page.ts --version "$VERSION" | gzip -9n > "$stage/usr/share/man/man1/oam-docker-ipam.1.gz"
find "$stage" -type d -exec chmod 0755 {} +
echo "build-rpm: staged ($(elapsed))" >&2

# 3. The RPM. Payload compressed with zstd level 6: on the 110 MB executable, 36 MB in a few
#    seconds, where xz -6 gives 27 MB in 3 minutes and gzip -9 40 MB in 30 s on two cores. Read
#    by rpm 4.14 and later (RHEL/Rocky 8 on) and dpkg 1.21.18 and later (Debian 12, Ubuntu 22.04).
rpmbuild -bb --quiet --target x86_64 \
  --define "_topdir $work/rpm" \
  --define "pkg_version $VERSION" \
  --define "stage $stage" \
  --define "_binary_payload w6T0.zstdio" \
  --define "use_source_date_epoch_as_buildtime 1" \
  packaging/oam-docker-ipam.spec >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; exit 1; }
rpm="oam-docker-ipam-$VERSION-1.x86_64.rpm"
mv "$work/rpm/RPMS/x86_64/$rpm" "$OUT_DIR/$rpm"
echo "build-rpm: $OUT_DIR/$rpm ($(elapsed))" >&2

# 4. The .deb, from the same tree plus its control files.
debroot="$work/deb"
cp -al "$stage" "$debroot"
mkdir -p "$debroot/DEBIAN"
installed_kib=$(du -sk --apparent-size "$stage" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$installed_kib/" packaging/deb/control.in > "$debroot/DEBIAN/control"
echo /etc/oam-docker-ipam/oam-docker-ipam.conf > "$debroot/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "packaging/deb/$script" "$debroot/DEBIAN/$script"; done
# For dpkg --verify: every file but the conffile, whose checksum dpkg keeps itself.
(cd "$debroot" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$debroot/DEBIAN/md5sums"
chmod 0644 "$debroot/DEBIAN/control" "$debroot/DEBIAN/conffiles" "$debroot/DEBIAN/md5sums"
deb="oam-docker-ipam_$VERSION-1_amd64.deb"
dpkg-deb --root-owner-group -Zzstd -z6 --build "$debroot" "$OUT_DIR/$deb" >/dev/null
echo "build-rpm: $OUT_DIR/$deb ($(elapsed))" >&2
ls -l "$OUT_DIR/$rpm" "$OUT_DIR/$deb"
