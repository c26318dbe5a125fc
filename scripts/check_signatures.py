#!/usr/bin/env python3
"""Independent re-implementation of the three signature schemes (see SIGNING-NOTES.md),
checked against the SDK-signed fixtures in Tests/Fixtures/sdk-requests/*.json.

Uses only the standard library and deliberately does NOT call urllib.parse.quote/urlencode:
percent-encoding and decoding are written out here so that the algorithm matches what the
Swift verifier has to do.

Usage: python3 scripts/check_signatures.py [FIXTURE.json ...]
Exit status 0 iff every fixture's signature recomputes exactly, and a wrong secret does not.
"""
import base64
import glob
import hashlib
import hmac
import json
import os
import sys

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def pct_encode(s):
    """RFC 3986: UTF-8 bytes; A-Z a-z 0-9 - _ . ~ kept; everything else %XX (upper-case hex).
    Space becomes %20, '*' becomes %2A, '~' stays."""
    out = []
    for b in s.encode("utf-8"):
        out.append(chr(b) if b in UNRESERVED else "%%%02X" % b)
    return "".join(out)


def pct_decode(s, plus_is_space):
    raw = bytearray()
    i = 0
    bs = s.encode("utf-8")
    while i < len(bs):
        c = bs[i]
        if c == 0x25 and i + 2 < len(bs):
            raw.append(int(bs[i + 1:i + 3], 16))
            i += 3
        elif c == 0x2B and plus_is_space:
            raw.append(0x20)
            i += 1
        else:
            raw.append(c)
            i += 1
    return raw.decode("utf-8")


def parse_pairs(qs, plus_is_space):
    """'a=1&b=&c' -> [('a','1'), ('b',''), ('c','')] in wire order."""
    pairs = []
    if not qs:
        return pairs
    for part in qs.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        pairs.append((pct_decode(k, plus_is_space), pct_decode(v, plus_is_space)))
    return pairs


def split_target(target):
    path, _, query = target.partition("?")
    return path, query


def header_values(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


def header(headers, name):
    vs = header_values(headers, name)
    return vs[0] if vs else None


# ------------------------------------------------------------------ Alibaba RPC v1 (HMAC-SHA1)

def rpc_v1_string_to_sign(fx):
    path, query = split_target(fx["target"])
    params = {}
    for k, v in parse_pairs(query, plus_is_space=True):
        params[k] = v
    ctype = header(fx["headers"], "Content-Type") or ""
    if fx["body"] and ctype.lower().startswith("application/x-www-form-urlencoded"):
        for k, v in parse_pairs(fx["body"], plus_is_space=True):
            params[k] = v  # body params are signed too; body wins on clash
    params.pop("Signature", None)
    canonical = "&".join(pct_encode(k) + "=" + pct_encode(params[k]) for k in sorted(params))
    return fx["method"].upper() + "&" + pct_encode("/") + "&" + pct_encode(canonical), params


def check_rpc_v1(fx, secret):
    _, query = split_target(fx["target"])
    given = dict(parse_pairs(query, plus_is_space=True)).get("Signature")
    sts, _ = rpc_v1_string_to_sign(fx)
    mac = hmac.new((secret + "&").encode("utf-8"), sts.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii"), given, sts


# ------------------------------------------------------------------ Alibaba ACS3-HMAC-SHA256

def parse_auth_params(s):
    out = {}
    for part in s.split(","):
        k, _, v = part.strip().partition("=")
        out[k] = v
    return out


def canonical_headers(headers, signed):
    lines = []
    for name in signed:
        vals = sorted(v.strip() for v in header_values(headers, name))
        lines.append(name + ":" + ",".join(vals) + "\n")
    return "".join(lines)


def check_acs3(fx, secret):
    auth = header(fx["headers"], "Authorization")
    algo, _, rest = auth.partition(" ")
    p = parse_auth_params(rest)
    signed = p["SignedHeaders"].split(";")
    path, query = split_target(fx["target"])
    pairs = parse_pairs(query, plus_is_space=True)  # URL query is form-encoded by the SDK
    cq = "&".join(pct_encode(k) + "=" + pct_encode(v) for k, v in sorted(pairs, key=lambda kv: kv[0]))
    payload = hashlib.sha256(fx["body"].encode("utf-8")).hexdigest()
    declared = header(fx["headers"], "x-acs-content-sha256")
    if declared != payload:
        return None, p["Signature"], "x-acs-content-sha256 %s != sha256(body) %s" % (declared, payload)
    creq = "\n".join([fx["method"].upper(), path or "/", cq, canonical_headers(fx["headers"], signed),
                      ";".join(signed), payload])
    sts = algo + "\n" + hashlib.sha256(creq.encode("utf-8")).hexdigest()
    sig = hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()
    return sig, p["Signature"], creq


# ------------------------------------------------------------------ Huawei SDK-HMAC-SHA256

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def check_huawei(fx, secret):
    auth = header(fx["headers"], "Authorization")
    algo, _, rest = auth.partition(" ")
    p = parse_auth_params(rest)
    signed = p["SignedHeaders"].split(";")
    path, query = split_target(fx["target"])
    segs = [pct_encode(pct_decode(s, plus_is_space=False)) for s in path.split("/")]
    curi = "/".join(segs)
    if not curi.endswith("/"):
        curi += "/"
    pairs = parse_pairs(query, plus_is_space=False)
    # Stable sort by key only: the SDK sends the query already in canonical order, and it sorts
    # values of a repeated key by their *typed* value (ints numerically), so keep the wire order.
    pairs = sorted(pairs, key=lambda kv: pct_encode(kv[0]))
    cq = "&".join(pct_encode(k) + "=" + pct_encode(v) for k, v in pairs)
    if not fx["body"]:
        payload = EMPTY_SHA256
    elif header(fx["headers"], "X-Sdk-Content-Sha256"):
        payload = header(fx["headers"], "X-Sdk-Content-Sha256")  # e.g. UNSIGNED-PAYLOAD
    else:
        payload = hashlib.sha256(fx["body"].encode("utf-8")).hexdigest()
    creq = "\n".join([fx["method"].upper(), curi, cq, canonical_headers(fx["headers"], signed),
                      ";".join(signed), payload])
    date = header(fx["headers"], "X-Sdk-Date")
    sts = algo + "\n" + date + "\n" + hashlib.sha256(creq.encode("utf-8")).hexdigest()
    sig = hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()
    return sig, p["Signature"], creq


def scheme_of(fx):
    auth = header(fx["headers"], "Authorization") or ""
    if auth.startswith("ACS3-HMAC-SHA256 "):
        return "ACS3-HMAC-SHA256", check_acs3
    if auth.startswith("SDK-HMAC-SHA256 "):
        return "SDK-HMAC-SHA256", check_huawei
    return "RPC-v1-HMAC-SHA1", check_rpc_v1


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv or sorted(glob.glob(os.path.join(here, "..", "Tests", "Fixtures", "sdk-requests", "*.json")))
    if not files:
        print("no fixtures found")
        return 1
    bad = 0
    for f in files:
        fx = json.load(open(f))
        name = os.path.basename(f)
        scheme, fn = scheme_of(fx)
        sig, given, detail = fn(fx, fx["access_key_secret"])
        wrong, _, _ = fn(fx, fx["access_key_secret"] + "x")
        ok = sig is not None and sig == given and wrong != given
        print("%s  %-18s %s" % ("MATCH   " if ok else "MISMATCH", scheme, name))
        if not ok:
            bad += 1
            print("   computed %s\n   given    %s\n   ---\n%s" % (sig, given, detail))
    print("%d passed, %d failed" % (len(files) - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
