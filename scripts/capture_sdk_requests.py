#!/usr/bin/env python3
"""Capture real SDK-signed requests as test fixtures.

Runs a tiny recording HTTP server on 127.0.0.1 (port 0), points each official SDK at it,
and writes one JSON fixture per call to Tests/Fixtures/sdk-requests/NAME.json:

  {"sdk", "sdk_version", "access_key_id", "access_key_secret", "method", "target",
   "headers": [[name, value], ...], "body", "notes"}

Run with the venv interpreter:  .build-venv/bin/python scripts/capture_sdk_requests.py
No network beyond 127.0.0.1 is used.
"""
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version as pkg_version
from urllib.parse import urlsplit, parse_qs

from huawei_signing import use_signing

for _v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)

AK = "testAccessKeyId"
SK = "testAccessKeySecret"
HW_PROJECT = "0605767829800f2f2fc0c014dd2f1148"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "Tests", "Fixtures", "sdk-requests")

SG_A = "sg-bp1aaaaaaaaaaaaaaaaa"
SG_B = "sg-bp1bbbbbbbbbbbbbbbbb"
HW_SG_A = "1d8b19c7-7c56-48f7-a99b-4b40eb390967"
HW_SG_B = "69c999ad-d9ef-4d79-94fd-35e6ceb75325"
HW_RULE = "f11a3824-ac19-4fad-b4f1-c5f4a6dd0a80"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []

    def take(self):
        with self.lock:
            r, self.requests = self.requests, []
        return r


RECORDER = Recorder()


def hw_rule(remote_group_id=HW_SG_A):
    return {
        "id": HW_RULE, "project_id": HW_PROJECT, "security_group_id": HW_SG_B,
        "remote_group_id": remote_group_id, "direction": "ingress", "description": "",
        "created_at": "2020-07-09T05:56:27.000+00:00", "updated_at": "2020-07-09T05:56:27.000+00:00",
        "ethertype": "IPv4", "action": "allow", "priority": 1, "protocol": "tcp", "multiport": "22",
        "remote_ip_prefix": None, "remote_address_group_id": None,
    }


def hw_group(gid=HW_SG_B):
    return {
        "id": gid, "name": "sg-b", "description": "", "project_id": HW_PROJECT,
        "created_at": "2020-07-09T05:56:27.000+00:00", "updated_at": "2020-07-09T05:56:27.000+00:00",
        "enterprise_project_id": "0", "tags": [], "security_group_rules": [hw_rule()],
    }


def respond_for(method, path, query, headers):
    """Return (status, extra_headers, body_bytes)."""
    if path.startswith("/v3/"):
        rid = uuid.uuid4().hex
        hdrs = [("Content-Type", "application/json"), ("X-Request-Id", rid)]
        if method == "DELETE":
            return 204, [("X-Request-Id", rid)], b""
        if "/security-group-rules" in path:
            if method == "GET" and path.rstrip("/").endswith("security-group-rules"):
                body = {"request_id": rid, "security_group_rules": [hw_rule()],
                        "page_info": {"previous_marker": HW_RULE, "current_count": 1}}
            else:
                body = {"request_id": rid, "security_group_rule": hw_rule()}
        elif method == "GET" and path.rstrip("/").endswith("security-groups"):
            body = {"request_id": rid, "security_groups": [hw_group()],
                    "page_info": {"previous_marker": HW_SG_B, "current_count": 1}}
        else:
            body = {"request_id": rid, "security_group": hw_group()}
        return (201 if method == "POST" else 200), hdrs, json.dumps(body).encode()
    action = (query.get("Action") or [None])[0] or headers.get("x-acs-action")
    rid = str(uuid.uuid4()).upper()
    body = {"RequestId": rid}
    if action == "DescribeSecurityGroupReferences":
        body["SecurityGroupReferences"] = {"SecurityGroupReference": []}
    elif action == "CreateSecurityGroup":
        body["SecurityGroupId"] = SG_A
    return 200, [("Content-Type", "application/json;charset=utf-8")], json.dumps(body).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = {
            "method": self.command,
            "target": self.path,  # raw request-target, exactly as on the request line
            "http_version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8"),
        }
        with RECORDER.lock:
            RECORDER.requests.append(rec)
        parts = urlsplit(self.path)
        lower = {k.lower(): v for k, v in self.headers.items()}
        status, hdrs, out = respond_for(self.command, parts.path, parse_qs(parts.query), lower)
        self.send_response(status)
        for k, v in hdrs:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if out:
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def start_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, srv.server_address[1]


# ---------------------------------------------------------------- SDK calls

def aliyun_core_client(port):
    from aliyunsdkcore.client import AcsClient
    return AcsClient(AK, SK, "cn-hangzhou", port=port, auto_retry=False)


def cap_core_refs(port, method):
    from aliyunsdkecs.request.v20140526.DescribeSecurityGroupReferencesRequest import \
        DescribeSecurityGroupReferencesRequest
    c = aliyun_core_client(port)
    r = DescribeSecurityGroupReferencesRequest()
    r.set_endpoint("127.0.0.1")
    r.set_SecurityGroupIds([SG_A, SG_B])
    r.add_query_param("RegionId", "cn-hangzhou")
    if method:
        r.set_method(method)
    c.do_action_with_exception(r)


def cap_core_authorize(port):
    from aliyunsdkecs.request.v20140526.AuthorizeSecurityGroupRequest import AuthorizeSecurityGroupRequest
    c = aliyun_core_client(port)
    r = AuthorizeSecurityGroupRequest()
    r.set_endpoint("127.0.0.1")
    r.add_query_param("RegionId", "cn-hangzhou")
    r.set_SecurityGroupId(SG_B)
    r.set_SourceGroupId(SG_A)
    r.set_IpProtocol("tcp")
    r.set_PortRange("22/22")
    c.do_action_with_exception(r)


def cap_core_body_params(port):
    """Body params become an application/x-www-form-urlencoded body and ARE signed."""
    from aliyunsdkecs.request.v20140526.AuthorizeSecurityGroupRequest import AuthorizeSecurityGroupRequest
    c = aliyun_core_client(port)
    r = AuthorizeSecurityGroupRequest()
    r.set_endpoint("127.0.0.1")
    r.add_query_param("RegionId", "cn-hangzhou")
    r.set_SecurityGroupId(SG_B)
    r.set_SourceGroupId(SG_A)
    r.set_IpProtocol("tcp")
    r.set_PortRange("22/22")
    r.set_Description("a b*c~d/e+f=g&h\u00e9\u4e2d")
    r.add_body_params("ClientToken", "tok a b*c~d/e+f=g&h\u00e9\u4e2d")
    r.add_body_params("Priority", "1")
    c.do_action_with_exception(r)


def tea_client(port, **kw):
    from alibabacloud_tea_openapi.utils_models import Config
    from alibabacloud_ecs20140526.client import Client
    cfg = Config(access_key_id=AK, access_key_secret=SK, endpoint="127.0.0.1:%d" % port,
                 protocol="http", region_id="cn-hangzhou", **kw)
    return Client(cfg)


def runtime():
    from darabonba.runtime import RuntimeOptions
    return RuntimeOptions(autoretry=False)


def cap_tea_refs(port, **kw):
    from alibabacloud_ecs20140526 import models as m
    tea_client(port, **kw).describe_security_group_references_with_options(
        m.DescribeSecurityGroupReferencesRequest(region_id="cn-hangzhou", security_group_id=[SG_A, SG_B]),
        runtime())


def cap_tea_authorize(port, description=None, **kw):
    from alibabacloud_ecs20140526 import models as m
    perm = m.AuthorizeSecurityGroupRequestPermissions(ip_protocol="tcp", port_range="22/22",
                                                     source_group_id=SG_A, description=description)
    tea_client(port, **kw).authorize_security_group_with_options(
        m.AuthorizeSecurityGroupRequest(region_id="cn-hangzhou", security_group_id=SG_B, permissions=[perm]),
        runtime())


def cap_core_common_body_region(port):
    """CommonRequest POST with RegionId as a body parameter: the SDK also puts its own RegionId in the query
    and signs the two merged into one map (RegionId counted once)."""
    from aliyunsdkcore.request import CommonRequest
    c = aliyun_core_client(port)
    r = CommonRequest(domain="127.0.0.1", version="2014-05-26", action_name="DescribeSecurityGroupReferences", product="Ecs")
    r.set_method("POST")
    r.add_body_params("RegionId", "cn-hangzhou")
    r.add_body_params("SecurityGroupId.1", SG_A)
    c.do_action_with_exception(r)


def hw_client(port, signing="sha256"):
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkvpc.v3 import VpcClient
    cfg = HttpConfig.get_default_config()
    cfg.retry_times = 0
    credentials = BasicCredentials(AK, SK, HW_PROJECT)
    use_signing(cfg, credentials, signing)
    return (VpcClient.new_builder()
            .with_http_config(cfg)
            .with_credentials(credentials)
            .with_endpoint("http://127.0.0.1:%d" % port)
            .build())


def cap_hw(port, what, signing="sha256"):
    from huaweicloudsdkvpc.v3 import model as m
    c = hw_client(port, signing)
    if what == "show_security_group":
        c.show_security_group(m.ShowSecurityGroupRequest(security_group_id=HW_SG_B))
    elif what == "list_security_group_rules":
        c.list_security_group_rules(m.ListSecurityGroupRulesRequest(remote_group_id=[HW_SG_A], limit=10))
    elif what == "list_security_group_rules_multi":
        c.list_security_group_rules(m.ListSecurityGroupRulesRequest(
            remote_group_id=[HW_SG_B, HW_SG_A], priority=[9, 10], description=["a b*c~d/e+f=\u00e9"],
            enabled=True, limit=10))
    elif what == "create_security_group_rule":
        c.create_security_group_rule(m.CreateSecurityGroupRuleRequest(
            body=m.CreateSecurityGroupRuleRequestBody(security_group_rule=m.CreateSecurityGroupRuleOption(
                security_group_id=HW_SG_B, direction="ingress", ethertype="IPv4", protocol="tcp",
                multiport="22", remote_group_id=HW_SG_A, action="allow", priority=1))))
    elif what == "create_security_group":
        c.create_security_group(m.CreateSecurityGroupRequest(
            body=m.CreateSecurityGroupRequestBody(security_group=m.CreateSecurityGroupOption(
                name="sg-a", description="tapedeck \u00e9 test"))))
    elif what == "delete_security_group":
        c.delete_security_group(m.DeleteSecurityGroupRequest(security_group_id=HW_SG_A))
    else:
        raise ValueError(what)


CAPTURES = [
    ("aliyun-core-DescribeSecurityGroupReferences-POST", "aliyun-python-sdk-core+ecs",
     ["aliyun-python-sdk-core", "aliyun-python-sdk-ecs"], lambda p: cap_core_refs(p, None),
     "RPC signature v1 (HMAC-SHA1). Default method of the ECS request class is POST; all params in the "
     "query string, empty body. Signature is over METHOD&%2F&enc(sorted canonical query)."),
    ("aliyun-core-DescribeSecurityGroupReferences-GET", "aliyun-python-sdk-core+ecs",
     ["aliyun-python-sdk-core", "aliyun-python-sdk-ecs"], lambda p: cap_core_refs(p, "GET"),
     "Same as the POST fixture but request.set_method('GET'): string to sign starts with GET&."),
    ("aliyun-core-AuthorizeSecurityGroup-SourceGroupId", "aliyun-python-sdk-core+ecs",
     ["aliyun-python-sdk-core", "aliyun-python-sdk-ecs"], cap_core_authorize,
     "AuthorizeSecurityGroup with the legacy flat SourceGroupId/IpProtocol/PortRange params."),
    ("aliyun-core-AuthorizeSecurityGroup-form-body", "aliyun-python-sdk-core+ecs",
     ["aliyun-python-sdk-core", "aliyun-python-sdk-ecs"], cap_core_body_params,
     "Extra: request.add_body_params(...) puts params in an application/x-www-form-urlencoded body "
     "(urlencode => '+' for space) with a Content-MD5 header. Body params are merged with the query "
     "params for signing (body wins on a key clash; not exercised here). Description also has special characters in the query ('+' for space "
     "in the URL; '%20' in the canonical string)."),
    ("tea-ecs-DescribeSecurityGroupReferences-ACS3", "alibabacloud-ecs20140526",
     ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "darabonba-core"], lambda p: cap_tea_refs(p),
     "ACS3-HMAC-SHA256. POST / with action params in the query (no Action/Version/Format there); "
     "x-acs-* headers; every header set by the SDK before signing is signed, incl. host, "
     "user-agent and accept."),
    ("tea-ecs-AuthorizeSecurityGroup-ACS3", "alibabacloud-ecs20140526",
     ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "darabonba-core"],
     lambda p: cap_tea_authorize(p),
     "ACS3-HMAC-SHA256, Permissions.1.* repeat-list form with SourceGroupId."),
    ("tea-ecs-AuthorizeSecurityGroup-ACS3-special-chars", "alibabacloud-ecs20140526",
     ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "darabonba-core"],
     lambda p: cap_tea_authorize(p, description="a b*c~d/e+f=g&h\u00e9\u4e2d"),
     "Extra: Permissions.1.Description with special chars. The URL query is form-encoded "
     "(urlencode/quote_plus: space='+', '~' kept, '*' => %2A) but the canonical query uses "
     "RFC3986 (space=%20). A verifier must decode the query form-style ('+' => space) and re-encode."),
    ("tea-ecs-DescribeSecurityGroupReferences-v2", "alibabacloud-ecs20140526",
     ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "darabonba-core"],
     lambda p: cap_tea_refs(p, signature_algorithm="v2"),
     "Config(signature_algorithm='v2'): RPC signature v1 (HMAC-SHA1) in the query, Format=json "
     "(lower case), no SignatureType, no RegionId added unless the request has it (it does here)."),
    ("huawei-vpc-v3-ShowSecurityGroup", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "show_security_group"),
     "SDK-HMAC-SHA256. Canonical URI gets a trailing '/' that the request path lacks."),
    ("huawei-vpc-v3-ListSecurityGroupRules-remote_group_id", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "list_security_group_rules"),
     "Query is sent already in canonical (sorted, RFC3986-encoded) form."),
    ("huawei-vpc-v3-ListSecurityGroupRules-multi", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "list_security_group_rules_multi"),
     "Extra: repeated keys (multi), ints sorted numerically (priority=9 before priority=10 -- NOT a string "
     "sort), bool as 'true', special chars %-encoded with only A-Za-z0-9-_.~ unescaped."),
    ("huawei-vpc-v3-CreateSecurityGroupRule", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "create_security_group_rule"),
     "JSON body; payload hash is sha256 hex of the exact body bytes."),
    ("huawei-vpc-v3-CreateSecurityGroup", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "create_security_group"),
     "JSON body (simplejson, ensure_ascii => non-ASCII as \\u escapes)."),
    ("huawei-vpc-v3-ShowSecurityGroup-SM3", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "show_security_group", "sm3"),
     "HttpConfig.signing_algorithm = HMAC_SM3: SDK-HMAC-SM3, SM3 for both hashes and the HMAC."),
    ("huawei-vpc-v3-CreateSecurityGroup-SM3", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "create_security_group", "sm3"),
     "SDK-HMAC-SM3 with a JSON body: the payload hash is SM3 of the body."),
    ("huawei-vpc-v3-ShowSecurityGroup-derived", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "show_security_group", "derived"),
     "Derived AK/SK: V11-HMAC-SHA256 Credential=AK/date/region/service; the HMAC key is the hex of an "
     "HKDF-SHA256 key (salt AK, secret SK, info date/region/service)."),
    ("huawei-vpc-v3-CreateSecurityGroupRule-derived", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "create_security_group_rule", "derived"),
     "Derived AK/SK with a JSON body."),
    ("aliyun-core-CommonRequest-RegionId-in-query-and-body", "aliyun-python-sdk-core",
     ["aliyun-python-sdk-core"], cap_core_common_body_region,
     "CommonRequest POST, RegionId added as a body parameter: the SDK puts its own RegionId in the query "
     "too and signs the query and body merged into one map (RegionId once, the body's value)."),
    ("huawei-vpc-v3-DeleteSecurityGroup", "huaweicloudsdkvpc",
     ["huaweicloudsdkvpc", "huaweicloudsdkcore"], lambda p: cap_hw(p, "delete_security_group"),
     "DELETE; capture server answered 204 with an empty body (SDK accepts any status < 400)."),
]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    srv, port = start_server()
    only = set(sys.argv[1:])
    failures = 0
    for name, sdk, pkgs, fn, notes in CAPTURES:
        if only and name not in only:
            continue
        RECORDER.take()
        err = None
        try:
            fn(port)
        except Exception as e:  # response parse problems do not matter here
            err = "%s: %s" % (type(e).__name__, e)
        reqs = RECORDER.take()
        if len(reqs) != 1:
            print("FAIL %s: expected 1 request, got %d (%s)" % (name, len(reqs), err))
            failures += 1
            continue
        rec = reqs[0]
        fixture = {
            "sdk": sdk,
            "sdk_version": ", ".join("%s==%s" % (p, pkg_version(p)) for p in pkgs),
            "access_key_id": AK,
            "access_key_secret": SK,
            "method": rec["method"],
            "target": rec["target"],
            "headers": rec["headers"],
            "body": rec["body"],
            "notes": notes,
        }
        if "huawei" in name:
            fixture["project_id"] = HW_PROJECT
        with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
            json.dump(fixture, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print("ok   %s %s %s%s" % (name, rec["method"], rec["target"][:80],
                                   ("  (sdk raised %s)" % err) if err else ""))
    srv.shutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
