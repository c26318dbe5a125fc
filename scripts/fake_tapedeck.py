#!/usr/bin/env python3
"""A tiny Python stand-in for `tapedeck simulate`, used ONLY to test the conformance harness
(scripts/conformance, scripts/conformance_flows.py) while the Swift binary is not available:

  TAPEDECK_BIN=scripts/fake_tapedeck.py scripts/conformance

CLI:  fake_tapedeck.py simulate --port 0 [--access-key AK:SECRET ...]
Prints "listening on http://127.0.0.1:PORT" on stdout, then serves until killed.
It implements just enough of ECS (RPC v1 + ACS3) and Huawei VPC v3 security groups for the flows,
verifies signatures with scripts/check_signatures.py when access keys are given, and answers
errors in each cloud's JSON shape. It is a reference for behaviour, not the product.
"""
import argparse
import datetime
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_signatures as cs  # noqa: E402

LOCK = threading.Lock()
KEYS = {}            # ak -> secret; empty = accept anything
ALI = {}             # sg id -> {"name", "rules": [dict]}
HW_GROUPS = {}       # id -> dict
HW_RULES = {}        # id -> dict


def now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


# ------------------------------------------------------------------ Alibaba

def ali_params(fx):
    path, query = cs.split_target(fx["target"])
    p = dict(cs.parse_pairs(query, plus_is_space=True))
    ctype = cs.header(fx["headers"], "Content-Type") or ""
    if fx["body"] and ctype.startswith("application/x-www-form-urlencoded"):
        p.update(cs.parse_pairs(fx["body"], plus_is_space=True))
    return p


def ali_error(status, code, msg, rid):
    return status, {"RequestId": rid, "HostId": "ecs.aliyuncs.com", "Code": code, "Message": msg,
                    "Recommend": "https://api.aliyun.com/troubleshoot?q=%s" % code}


def ali_auth(fx, rid):
    if not KEYS:
        return None
    auth = cs.header(fx["headers"], "Authorization") or ""
    if auth.startswith("ACS3-HMAC-SHA256 "):
        ak = cs.parse_auth_params(auth.partition(" ")[2]).get("Credential")
        if ak not in KEYS:
            return ali_error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.", rid)
        sig, given, _ = cs.check_acs3(fx, KEYS[ak])
        if sig != given:
            return ali_error(400, "SignatureDoesNotMatch",
                             "Specified signature does not match our calculation.", rid)
        return None
    p = ali_params(fx)
    ak = p.get("AccessKeyId")
    if ak not in KEYS:
        return ali_error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.", rid)
    sig, given, sts = cs.check_rpc_v1(fx, KEYS[ak])
    if sig != given:
        return ali_error(400, "SignatureDoesNotMatch",
                         "Specified signature does not match our calculation. server string to sign is:" + sts, rid)
    return None


def ali_rules_from(p):
    rules = []
    if p.get("SourceGroupId") or p.get("IpProtocol"):
        rules.append((p.get("IpProtocol", "").lower(), p.get("PortRange"), p.get("SourceGroupId")))
    n = 1
    while ("Permissions.%d.IpProtocol" % n) in p:
        rules.append((p["Permissions.%d.IpProtocol" % n].lower(), p.get("Permissions.%d.PortRange" % n),
                      p.get("Permissions.%d.SourceGroupId" % n)))
        n += 1
    return rules


def ali_handle(fx):
    rid = str(uuid.uuid4()).upper()
    err = ali_auth(fx, rid)
    if err:
        return err
    p = ali_params(fx)
    action = p.get("Action") or cs.header(fx["headers"], "x-acs-action")
    with LOCK:
        if action == "CreateSecurityGroup":
            gid = "sg-" + uuid.uuid4().hex[:20]
            ALI[gid] = {"name": p.get("SecurityGroupName", ""), "rules": []}
            return 200, {"RequestId": rid, "SecurityGroupId": gid}
        if action in ("AuthorizeSecurityGroup", "RevokeSecurityGroup", "DeleteSecurityGroup"):
            gid = p.get("SecurityGroupId")
            if gid not in ALI:
                return ali_error(404, "InvalidSecurityGroupId.NotFound",
                                 "The specified security group does not exist.", rid)
        if action == "AuthorizeSecurityGroup":
            for r in ali_rules_from(p):
                if r not in ALI[gid]["rules"]:
                    ALI[gid]["rules"].append(r)
            return 200, {"RequestId": rid}
        if action == "RevokeSecurityGroup":
            for r in ali_rules_from(p):
                if r in ALI[gid]["rules"]:
                    ALI[gid]["rules"].remove(r)
            return 200, {"RequestId": rid}
        if action == "DeleteSecurityGroup":
            if any(r[2] == gid for g in ALI.values() for r in g["rules"]):
                return ali_error(403, "DependencyViolation",
                                 "There is other security group authorized to the specified security group.", rid)
            del ALI[gid]
            return 200, {"RequestId": rid}
        if action == "DescribeSecurityGroupReferences":
            out = []
            n = 1
            while ("SecurityGroupId.%d" % n) in p:
                gid = p["SecurityGroupId.%d" % n]
                refs = sorted({other for other, g in ALI.items() for r in g["rules"] if r[2] == gid})
                if refs:
                    out.append({"SecurityGroupId": gid, "ReferencingSecurityGroups": {"ReferencingSecurityGroup": [
                        {"SecurityGroupId": o, "AliUid": "1234567890"} for o in refs]}})
                n += 1
            return 200, {"RequestId": rid, "SecurityGroupReferences": {"SecurityGroupReference": out}}
    return ali_error(400, "InvalidAction.NotFound", "Specified api is not found.", rid)


# ------------------------------------------------------------------ Huawei

def hw_error(status, code, msg, rid):
    return status, {"error_msg": msg, "error_code": code, "request_id": rid}


def hw_handle(fx, method, path):
    rid = uuid.uuid4().hex
    if KEYS:
        auth = cs.header(fx["headers"], "Authorization") or ""
        ak = cs.parse_auth_params(auth.partition(" ")[2]).get("Access") if auth else None
        ok = False
        if ak in KEYS and auth.startswith("SDK-HMAC-SHA256 "):
            sig, given, _ = cs.check_huawei(fx, KEYS[ak])
            ok = sig == given
        if not ok:
            return hw_error(401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail",
                            rid)
    parts = path.strip("/").split("/")  # v3 {project} vpc <coll> [id]
    if len(parts) < 4 or parts[0] != "v3" or parts[2] != "vpc":
        return hw_error(404, "APIGW.0101", "The API does not exist or has not been published in the environment",
                        rid)
    project, coll, ident = parts[1], parts[3], (parts[4] if len(parts) > 4 else None)
    body = json.loads(fx["body"]) if fx["body"] else {}
    _, query = cs.split_target(fx["target"])
    q = cs.parse_pairs(query, plus_is_space=False)
    with LOCK:
        if coll == "security-groups":
            if method == "POST" and ident is None:
                o = body.get("security_group") or {}
                gid = str(uuid.uuid4())
                t = now()
                HW_GROUPS[gid] = {"id": gid, "name": o.get("name"), "description": o.get("description") or "",
                                  "project_id": project, "created_at": t, "updated_at": t,
                                  "enterprise_project_id": o.get("enterprise_project_id") or "0",
                                  "tags": o.get("tags") or []}
                return 201, {"request_id": rid, "security_group": hw_group(gid)}
            if ident not in HW_GROUPS:
                return hw_error(404, "VPC.0602", "Security group %s could not be found." % ident, rid)
            if method == "GET":
                return 200, {"request_id": rid, "security_group": hw_group(ident)}
            if method == "DELETE":
                if any(r["remote_group_id"] == ident for r in HW_RULES.values()):
                    return hw_error(409, "VPC.0606", "Security group %s in use." % ident, rid)
                for k in [k for k, r in HW_RULES.items() if r["security_group_id"] == ident]:
                    del HW_RULES[k]
                del HW_GROUPS[ident]
                return 204, None
        if coll == "security-group-rules":
            if method == "POST" and ident is None:
                o = body.get("security_group_rule") or {}
                if o.get("security_group_id") not in HW_GROUPS:
                    return hw_error(404, "VPC.0602", "Security group could not be found.", rid)
                rid2 = str(uuid.uuid4())
                t = now()
                HW_RULES[rid2] = {"id": rid2, "description": o.get("description") or "",
                                  "security_group_id": o["security_group_id"], "direction": o.get("direction"),
                                  "protocol": o.get("protocol"), "ethertype": o.get("ethertype") or "IPv4",
                                  "multiport": o.get("multiport"), "action": o.get("action") or "allow",
                                  "priority": o.get("priority") or 1, "remote_group_id": o.get("remote_group_id"),
                                  "remote_ip_prefix": o.get("remote_ip_prefix"),
                                  "remote_address_group_id": o.get("remote_address_group_id"),
                                  "created_at": t, "updated_at": t, "project_id": project, "enabled": True}
                return 201, {"request_id": rid, "security_group_rule": HW_RULES[rid2]}
            if method == "GET" and ident is None:
                rs = list(HW_RULES.values())
                for k in ("remote_group_id", "security_group_id", "id"):
                    vals = [v for kk, v in q if kk == k]
                    if vals:
                        rs = [r for r in rs if r[k] in vals]
                return 200, {"request_id": rid, "security_group_rules": rs,
                             "page_info": {"previous_marker": rs[0]["id"] if rs else None,
                                           "current_count": len(rs)}}
            if ident not in HW_RULES:
                return hw_error(404, "VPC.0604", "Security group rule %s could not be found." % ident, rid)
            if method == "GET":
                return 200, {"request_id": rid, "security_group_rule": HW_RULES[ident]}
            if method == "DELETE":
                del HW_RULES[ident]
                return 204, None
    return hw_error(404, "APIGW.0101", "The API does not exist or has not been published in the environment", rid)


def hw_group(gid):
    g = dict(HW_GROUPS[gid])
    g["security_group_rules"] = [r for r in HW_RULES.values() if r["security_group_id"] == gid]
    return g


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        fx = {"method": self.command, "target": self.path, "headers": [[k, v] for k, v in self.headers.items()],
              "body": raw.decode("utf-8")}
        path = urlsplit(self.path).path
        if path.startswith("/v3/"):
            status, body = hw_handle(fx, self.command, path)
            rid = (body or {}).get("request_id") or uuid.uuid4().hex
            hdrs = [("X-Request-Id", rid)]
        else:
            status, body = ali_handle(fx)
            hdrs = []
        out = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in hdrs:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["simulate"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--access-key", action="append", default=[])
    a = ap.parse_args()
    for kv in a.access_key:
        ak, _, sk = kv.partition(":")
        KEYS[ak] = sk
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    print("listening on http://%s:%d" % srv.server_address[:2], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
