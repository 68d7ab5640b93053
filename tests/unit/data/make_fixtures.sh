#!/bin/sh
# make_fixtures.sh BUILD_DIR - regenerates tests/unit/data/{wal,outbox} with
# the writers of the tree whose libraries are in BUILD_DIR (see README).
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$root" -o "$tmp/gen_wal" "$here/gen_wal.c" \
  "$build/libbridge.a" "$build/libcommon.a" -lz -lpthread -lm
cc -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$root" -o "$tmp/gen_outbox" "$here/gen_outbox.c" \
  "$build/libpublisher.a" "$build/libcommon.a" -lz -lpthread -lm
rm -rf "$here/wal" "$here/outbox"
mkdir -p "$here/wal" "$here/outbox"
"$tmp/gen_wal" "$here/wal"
w=$here/wal
# flip one bit of the byte at offset $2 of file $1
flip() { python3 -c "import sys;p,o=sys.argv[1],int(sys.argv[2]);b=bytearray(open(p,'rb').read());b[o]^=1;open(p,'wb').write(b)" "$1" "$2"; }

# stale-cursor: the last segment (lsn 7, 8) lost at a power cut, cursor at 9
truncate -s 8 "$w/stale-cursor/wal/0000000000000007.log"
# gap: the first record of the sealed middle segment (lsn 3) damaged (a bit of
# its payload's last byte), cursor of "out" at 3: inside the gap
cp -r "$w/valid" "$w/gap"
flip "$w/gap/wal/0000000000000003.log" 45
printf '3\n' >"$w/gap/wal/out.cursor"
# sealed-corrupt: the second record of the first (sealed) segment damaged;
# the first record and both later segments are intact
cp -r "$w/valid" "$w/sealed-corrupt"
flip "$w/sealed-corrupt/wal/0000000000000001.log" 80
rm "$w/sealed-corrupt/wal/out.cursor"
# overlap: a second copy of the first segment named as if it began at lsn 2
cp -r "$w/valid" "$w/overlap"
cp "$w/overlap/wal/0000000000000001.log" "$w/overlap/wal/0000000000000002.log"

o=$here/outbox
# valid: readings 1..3 in outbox-1.log, 4..6 in outbox-2.log (a second
# segment is the same bytes as a first: magic + records)
mkdir -p "$tmp/a" "$tmp/b" "$o/valid"
"$tmp/gen_outbox" "$tmp/a" 1 3
"$tmp/gen_outbox" "$tmp/b" 4 3
cp "$tmp/a/outbox-1.log" "$o/valid/outbox-1.log"
cp "$tmp/b/outbox-1.log" "$o/valid/outbox-2.log"
# damaged-start-after-damaged: reading 3 (the end of segment 1) and reading 4
# (the start of segment 2) damaged, nothing good after reading 4's segment
mkdir -p "$o/damaged-start-after-damaged"
cp "$o/valid/outbox-1.log" "$o/damaged-start-after-damaged/outbox-1.log"
head -c 30 "$o/valid/outbox-2.log" >"$o/damaged-start-after-damaged/outbox-2.log"
flip "$o/damaged-start-after-damaged/outbox-1.log" 71
flip "$o/damaged-start-after-damaged/outbox-2.log" 27
# chained: readings 1..3 | 4..6 with 2 and 4 damaged (a payload bit each)
mkdir -p "$o/chained"
cp "$o/valid/outbox-1.log" "$o/valid/outbox-2.log" "$o/chained/"
flip "$o/chained/outbox-1.log" 49
flip "$o/chained/outbox-2.log" 27
# length-flip: the length field of reading 2 damaged (the old outbox cut the
# rest of the segment, 2 and 3, as a torn tail)
mkdir -p "$o/length-flip"
cp "$o/valid/outbox-1.log" "$o/length-flip/"
flip "$o/length-flip/outbox-1.log" 31
