#!/usr/bin/env python3
"""Reads WARC files with warcio (an independent reader) for spate's WARC tests.

    python warc_check.py < request.json > report.json

The request: {"files": [PATH...], "locations": [{"file": PATH, "offset": N}...],
"raw_urls": [URL...]}. The report (JSON on stdout):

  files:      {PATH: [record...]} every record in file order, as warcio reads it with
              check_digests=True: type, id, date, target_uri, ip, concurrent_to (list),
              warcinfo_id, content_type, truncated, block_digest, payload_digest, offset,
              length (warcio's compressed length), passed (warcio's digest verdict: true,
              false or null), problems (warcio's messages), and for response records:
              status, transfer_encoding, content_encoding, raw_payload_sha256 (the bytes
              after the HTTP headers, as stored), decoded_sha256 (warcio's content_stream():
              de-chunked and content-decoded), decoded_length, dechunked_sha1 ("sha1:" +
              base32 of the payload with the chunked framing removed by this script, for
              chunked responses; else of the raw payload); for request records: request_line.
  locations:  for each asked location, the first record warcio reads when it starts at
              that byte offset: type, target_uri, id, length.
  raw:        {URL: sha256 of the body bytes as the server sends them to a plain socket
              GET with "Accept-Encoding: gzip, deflate" and "Connection: close"}.
  error:      null, or why the request could not be served (e.g. warcio missing).
"""

import base64
import hashlib
import json
import socket
import sys
from urllib.parse import urlsplit


def dechunk(raw):
    out = bytearray()
    i = 0
    while True:
        j = raw.index(b"\n", i)
        size = int(raw[i:j].split(b";")[0].strip() or b"0", 16)
        i = j + 1
        if size == 0:
            return bytes(out)
        out += raw[i:i + size]
        i += size
        if raw[i:i + 2] == b"\r\n":
            i += 2
        elif raw[i:i + 1] == b"\n":
            i += 1
        else:
            raise ValueError("no CRLF after chunk data")


def sha1_b32(data):
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def read_records(path, ArchiveIterator):
    records = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f, check_digests=True)
        for record in it:
            h = record.rec_headers
            r = {
                "type": h.get_header("WARC-Type"),
                "id": h.get_header("WARC-Record-ID"),
                "date": h.get_header("WARC-Date"),
                "target_uri": h.get_header("WARC-Target-URI"),
                "ip": h.get_header("WARC-IP-Address"),
                "concurrent_to": [v for k, v in h.headers if k.lower() == "warc-concurrent-to"],
                "warcinfo_id": h.get_header("WARC-Warcinfo-ID"),
                "content_type": h.get_header("Content-Type"),
                "truncated": h.get_header("WARC-Truncated"),
                "block_digest": h.get_header("WARC-Block-Digest"),
                "payload_digest": h.get_header("WARC-Payload-Digest"),
            }
            if r["type"] == "response" and record.http_headers is not None:
                hh = record.http_headers
                r["status"] = int(hh.get_statuscode() or 0)
                r["transfer_encoding"] = hh.get_header("Transfer-Encoding")
                r["content_encoding"] = hh.get_header("Content-Encoding")
                raw = record.raw_stream.read()
                r["raw_payload_sha256"] = hashlib.sha256(raw).hexdigest()
                chunked = (r["transfer_encoding"] or "").lower() == "chunked"
                try:
                    r["dechunked_sha1"] = sha1_b32(dechunk(raw) if chunked else raw)
                except (ValueError, IndexError) as e:
                    r["dechunked_sha1"] = "error: %s" % e
            elif r["type"] == "request" and record.http_headers is not None:
                r["request_line"] = record.http_headers.protocol + " " + record.http_headers.statusline
                record.raw_stream.read()
            else:
                record.raw_stream.read()
            r["passed"] = record.digest_checker.passed
            r["problems"] = list(record.digest_checker.problems)
            records.append(r)
            # (get_record_offset() reads the record to its end: only after the reads above.)
            r["offset"] = it.get_record_offset()
            r["length"] = it.get_record_length()
    # warcio decodes the stored bytes itself (chunked framing, then gzip/deflate) in
    # content_stream(): a second pass, as the first one read the raw bytes.
    with open(path, "rb") as f:
        for i, record in enumerate(ArchiveIterator(f)):
            r = records[i]
            if r["type"] == "response" and record.http_headers is not None:
                data = record.content_stream().read()
                r["decoded_sha256"] = hashlib.sha256(data).hexdigest()
                r["decoded_length"] = len(data)
    return records


def first_record_at(path, offset, ArchiveIterator):
    with open(path, "rb") as f:
        f.seek(offset)
        it = ArchiveIterator(f)
        for record in it:
            h = record.rec_headers
            out = {"type": h.get_header("WARC-Type"), "target_uri": h.get_header("WARC-Target-URI"),
                   "id": h.get_header("WARC-Record-ID")}
            out["length"] = it.get_record_length()
            return out
    return None


def raw_body(url):
    u = urlsplit(url)
    host = u.hostname
    port = u.port or 80
    target = u.path + ("?" + u.query if u.query else "")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        hosthdr = ("[%s]" % host if ":" in host else host) + ":%d" % port
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n"
                   % (target, hosthdr)).encode("latin-1"))
        data = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    head_end = data.index(b"\r\n\r\n") + 4
    return bytes(data[head_end:])


def main():
    request = json.load(sys.stdin)
    report = {"files": {}, "locations": [], "raw": {}, "error": None}
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError as e:
        report["error"] = "warcio is not importable by %s: %s" % (sys.executable, e)
        json.dump(report, sys.stdout)
        return
    for path in request.get("files", []):
        report["files"][path] = read_records(path, ArchiveIterator)
    for loc in request.get("locations", []):
        report["locations"].append(first_record_at(loc["file"], loc["offset"], ArchiveIterator))
    for url in request.get("raw_urls", []):
        report["raw"][url] = hashlib.sha256(raw_body(url)).hexdigest()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
