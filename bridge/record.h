/*
 * record.h - a parsed reading as the bridge keeps it in its log.
 *
 * on_message parses every payload once (it must, to refuse malformed ones
 * before the PUBACK) and appends the result in this compact binary form, so
 * each output's sender decodes a few fixed fields and copies the strings
 * instead of parsing the JSON again. Pure: no I/O, no globals.
 *
 * Layout (little endian), format 2 of the log (wal.h):
 *   u8  RECORD_MAGIC            never the first byte of a JSON payload
 *   u8  flags                   1 ts from payload, 2 has seq, 4 has boot
 *   u8  n_tags, u8 n_fields
 *   i64 ts_ms
 *   u64 seq                     0 without one
 *   8 bytes boot                the 16 hex digits as bytes; 0 without one
 *   f64 value[n_fields]         IEEE 754 bits
 *   strings, each NUL-terminated, back to back:
 *     node, sensor, n_tags x (key, value), n_fields x name
 * What the parser skipped (ignored_keys, dropped_tags) is counted when the
 * message arrives and not kept.
 */
#ifndef SW_RECORD_H
#define SW_RECORD_H

#include <stddef.h>

#include "bridge/reading.h"

#define RECORD_MAGIC 0xb2
#define RECORD_FIXED 28

/*
 * Encodes r into buf (cap bytes). Returns the length, -ENOSPC when it does
 * not fit (a record is never longer than its payload plus its topic plus
 * RECORD_FIXED + 8 bytes per field), or -EINVAL for a reading with more tags
 * or fields than READING_MAX_* (the parser never makes one).
 */
int record_encode(const struct reading *r, void *buf, size_t cap);

/*
 * Decodes len bytes at buf into r, which then owns one arena for its arrays
 * and strings (reading_release() frees it). Returns 0, -EBADMSG for bytes
 * that are not a well-formed record, or -ENOMEM. On error nothing needs
 * releasing.
 */
int record_decode(struct reading *r, const void *buf, size_t len);

#endif
