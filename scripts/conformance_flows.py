#!/usr/bin/env python3
"""SDK conformance flows against a running Tapedeck simulator.

Drives the official SDKs (an old and the newest generation of each) and a third-party client
library, unchanged except for the endpoint, through a security-group flow and checks what each
gives back. Which generation runs depends on the interpreter's venv (see scripts/conformance):

  aliyun-core : aliyun-python-sdk-core + aliyun-python-sdk-ecs (RPC signature v1, HMAC-SHA1;
                params in the query, Format=JSON)
  tea         : alibabacloud-ecs20140526 >= 2.1.1 (ACS3-HMAC-SHA256; action in x-acs-action)
  tea-rpc     : alibabacloud-ecs20140526 <= 2.1.0 with alibabacloud-tea-openapi 0.2.x, from before
                the ACS3 switch (RPC signature v1, HMAC-SHA1; params in a form body, Format=json)
  huawei      : huaweicloudsdkvpc v3, 3.0.x or 3.1.x (SDK-HMAC-SHA256)
  libcloud    : apache-libcloud's Aliyun ECS driver (RPC signature v1, HMAC-SHA1; GET, Format=XML)

Every flow also checks, from the requests the SDK handed to `requests`, that it signed them the
way its generation should (so a drifting pin cannot silently test the wrong signing scheme).

Usage:
  python conformance_flows.py --endpoint http://127.0.0.1:PORT [--ak AK --sk SK]
                              [--expect-signature-error] [--only aliyun-core,tea,huawei]
                              (flows: aliyun-core, tea, tea-rpc, huawei, huawei-sm3, huawei-derived, libcloud; default the first
                              three, the newest generation)
  python conformance_flows.py --endpoint https://127.0.0.1:PORT --https-proxy http://127.0.0.1:PPORT
                              --ca-bundle CA.pem [...]

With an https:// endpoint every SDK talks HTTPS; --ca-bundle is the CA file each SDK verifies the
server certificate against (e.g. the proxy's interception CA, DIR/ca.pem). With --https-proxy every
SDK is configured explicitly (not through the environment) to reach the endpoint through that forward
proxy with CONNECT, and NO_PROXY is cleared so 127.0.0.1 is not bypassed:
  aliyun-core : request.set_protocol_type("https"), AcsClient(proxy={"https": URL}, verify=CA)
  tea         : Config(protocol="https", https_proxy=URL, ca=CA)
  huawei      : with_endpoint("https://..."), HttpConfig(proxy_protocol/host/port, ssl_ca_cert=CA)
  libcloud    : driver(secure=True, proxy_url=URL), libcloud.security.CA_CERTS_PATH = CA
  tea-rpc     : Config(protocol="https", https_proxy=URL) -- that generation has no CA setting, and
                aliyun-python-sdk-core 2.13 no proxy argument: scripts/conformance runs neither over HTTPS

Prints one line per check (PASS/FAIL), one "# result FLOW PASS|FAIL PASSED FAILED VERSIONS" line per
flow, then "N passed, N failed"; exits 1 on any failure.
With --expect-signature-error each SDK's first call must fail with the signature error
(Alibaba SignatureDoesNotMatch / Huawei 401 APIGW.0301) and nothing else is run.
Retries are disabled in every SDK.
"""
import argparse
import ast
import importlib
import json
import os
import sys
import traceback
import uuid
from importlib import metadata
from urllib.parse import parse_qsl, urlsplit

from huawei_signing import use_signing

for _v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.pop("LIBCLOUD_RETRY_FAILED_HTTP_REQUESTS", None)  # libcloud: no retries

DEFAULT_AK = "testAccessKeyId"
DEFAULT_SK = "testAccessKeySecret"
DEFAULT_PROJECT = "0605767829800f2f2fc0c014dd2f1148"
REGION = "cn-hangzhou"
# Code of the wrong-secret error. aliyunsdkcore rewrites SignatureDoesNotMatch to
# InvalidAccessKeySecret when the server's "...string to sign is:<sts>" equals its own.
ALI_SIG_CODES = ("SignatureDoesNotMatch",)
ALI_CORE_SIG_CODES = ("SignatureDoesNotMatch", "InvalidAccessKeySecret")


class CheckFailed(Exception):
    pass


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, sdk, what, detail=""):
        self.passed += 1
        print("PASS [%s] %s%s" % (sdk, what, (" -- " + detail) if detail else ""), flush=True)

    def fail(self, sdk, what, detail=""):
        self.failed += 1
        print("FAIL [%s] %s%s" % (sdk, what, (" -- " + detail) if detail else ""), flush=True)


R = Report()


def check(sdk, what, cond, detail=""):
    if cond:
        R.ok(sdk, what, detail)
    else:
        R.fail(sdk, what, detail)
        raise CheckFailed("%s: %s" % (what, detail))


def expect_raises(sdk, what, fn, exc_type, predicate, describe):
    """Run fn, require exc_type whose attributes satisfy predicate."""
    try:
        result = fn()
    except exc_type as e:
        d = describe(e)
        check(sdk, what, predicate(e), d)
        return e
    except Exception as e:  # wrong exception type
        check(sdk, what, False, "raised %s: %s" % (type(e).__name__, e))
    check(sdk, what, False, "call succeeded but an error was expected: %r" % (result,))


def call(sdk, what, fn):
    """Run fn; a raised exception is a failed check."""
    try:
        result = fn()
    except CheckFailed:
        raise
    except Exception as e:
        check(sdk, what, False, "raised %s: %s" % (type(e).__name__, e))
    R.ok(sdk, what)
    return result


# With TAPEDECK_DETERMINISTIC=1 every run sends the same requests (names, unknown ids), so a
# session recorded through `tapedeck proxy` replays offline; signatures, nonces and dates still
# change on every call, as the SDKs make them.
DETERMINISTIC = os.environ.get("TAPEDECK_DETERMINISTIC") == "1"
_names = {}


def unique_name(prefix):
    if DETERMINISTIC:
        _names[prefix] = _names.get(prefix, 0) + 1
        return "%s-det%d" % (prefix, _names[prefix])
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


# How the SDKs reach the endpoint; set from the command line in main().
class Transport:
    scheme = "http"      # "http" or "https"
    https_proxy = None   # forward-proxy URL, e.g. http://127.0.0.1:PORT (CONNECT)
    ca_bundle = None     # CA file to verify the server certificate against


T = Transport()


def unknown_uuid():
    return "00000000-0000-4000-8000-00000000beef" if DETERMINISTIC else str(uuid.uuid4())


# =============================================================== versions and the wire

# The distributions each flow exercises, the first one names the generation in the output.
FLOW_DISTS = {
    "aliyun-core": ["aliyun-python-sdk-core", "aliyun-python-sdk-ecs"],
    "tea": ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "darabonba-core"],
    "tea-rpc": ["alibabacloud-ecs20140526", "alibabacloud-tea-openapi", "alibabacloud-tea"],
    "huawei": ["huaweicloudsdkvpc", "huaweicloudsdkcore"],
    "huawei-sm3": ["huaweicloudsdkvpc", "huaweicloudsdkcore"],
    "huawei-derived": ["huaweicloudsdkvpc", "huaweicloudsdkcore"],
    "libcloud": ["apache-libcloud"],
}


def dist_version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not-installed"


def versions(flow):
    return ", ".join("%s %s" % (d, dist_version(d)) for d in FLOW_DISTS.get(flow, []))


def label(name, dist):
    """The tag of a flow's PASS/FAIL lines: name and the version of its main distribution."""
    return "%s %s" % (name, dist_version(dist))


class Wire:
    """Every request an SDK hands to requests' HTTPAdapter.send (also aliyunsdkcore's vendored copy),
    as (method, url, headers, body), before it goes out -- so also the ones that fail."""
    sent = []


def install_wire_spy():
    for modname in ("requests.adapters", "aliyunsdkcore.vendored.requests.adapters"):
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        cls = mod.HTTPAdapter
        if getattr(cls.send, "_tapedeck_spy", False):
            continue
        orig = cls.send

        def send(self, request, *args, _orig=orig, **kwargs):
            body = request.body
            if isinstance(body, str):
                body = body.encode("utf-8")
            Wire.sent.append((request.method, request.url, dict(request.headers), body))
            return _orig(self, request, *args, **kwargs)

        send._tapedeck_spy = True
        cls.send = send


def wire_scheme(req):
    """How one captured request is signed, e.g. 'ACS3-HMAC-SHA256' or
    'RPC-v1-HMAC-SHA1 POST form-body Format=json'."""
    method, url, headers, body = req
    h = {k.lower(): v for k, v in headers.items()}
    auth = h.get("authorization") or ""
    if auth.split(" ")[0] in ("ACS3-HMAC-SHA256", "SDK-HMAC-SHA256", "SDK-HMAC-SM3", "V11-HMAC-SHA256"):
        return auth.split(" ")[0]
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    form = {}
    if body and "application/x-www-form-urlencoded" in h.get("content-type", ""):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params = dict(query)
    params.update(form)
    if params.get("SignatureMethod") == "HMAC-SHA1" and params.get("SignatureVersion") == "1.0" \
            and "Signature" in query:
        where = "form-body" if form else "query"  # where the action's own parameters travel
        return "RPC-v1-HMAC-SHA1 %s %s Format=%s" % (method, where, params.get("Format"))
    return "unrecognised(%s)" % (auth or "no Authorization, no SignatureMethod")


# What each flow may put on the wire (wire_scheme()); every request of a flow must show one and the
# same of these. aliyun-python-sdk-ecs request classes send GET up to 4.17-ish, POST later.
EXPECTED_WIRE = {
    "aliyun-core": ("RPC-v1-HMAC-SHA1 POST query Format=JSON", "RPC-v1-HMAC-SHA1 GET query Format=JSON"),
    "tea": ("ACS3-HMAC-SHA256",),
    "tea-rpc": ("RPC-v1-HMAC-SHA1 POST form-body Format=json",),
    "huawei": ("SDK-HMAC-SHA256",),
    "huawei-sm3": ("SDK-HMAC-SM3",),
    "huawei-derived": ("V11-HMAC-SHA256",),
    "libcloud": ("RPC-v1-HMAC-SHA1 GET query Format=XML",),
}


def check_wire(flow, since):
    sent = Wire.sent[since:]
    schemes = sorted({wire_scheme(r) for r in sent})
    want = EXPECTED_WIRE[flow]
    check(flow, "wire: every request is signed %s" % " or ".join(want),
          len(schemes) == 1 and schemes[0] in want,
          "%d requests, seen %s" % (len(sent), schemes))


# =============================================================== aliyun-python-sdk-core + ecs

def flow_aliyun_core(host, port, ak, sk, expect_sig_error):
    sdk = label("aliyun-core", "aliyun-python-sdk-core")
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.http import protocol_type as PT
    from aliyunsdkecs.request.v20140526.CreateSecurityGroupRequest import CreateSecurityGroupRequest
    from aliyunsdkecs.request.v20140526.DeleteSecurityGroupRequest import DeleteSecurityGroupRequest
    from aliyunsdkecs.request.v20140526.AuthorizeSecurityGroupRequest import AuthorizeSecurityGroupRequest
    from aliyunsdkecs.request.v20140526.RevokeSecurityGroupRequest import RevokeSecurityGroupRequest
    from aliyunsdkecs.request.v20140526.DescribeSecurityGroupReferencesRequest import \
        DescribeSecurityGroupReferencesRequest

    extra = {}
    if T.https_proxy:
        extra["proxy"] = {"https": T.https_proxy}
    if T.ca_bundle:
        extra["verify"] = T.ca_bundle
    client = AcsClient(ak, sk, REGION, port=port, auto_retry=False, connect_timeout=5, timeout=30, **extra)

    def do(req):
        req.set_endpoint(host)
        # HttpResponse compares with `is`, so pass the SDK's own constant.
        req.set_protocol_type(PT.HTTPS if T.scheme == "https" else PT.HTTP)
        req.add_query_param("RegionId", REGION)
        return json.loads(client.do_action_with_exception(req).decode("utf-8"))

    def create(name):
        r = CreateSecurityGroupRequest()
        r.set_SecurityGroupName(name)
        r.set_Description("tapedeck conformance")
        return do(r)

    def rule_req(cls, b, a):
        r = cls()
        r.set_SecurityGroupId(b)
        r.set_SourceGroupId(a)
        r.set_IpProtocol("tcp")
        r.set_PortRange("22/22")
        return r

    def refs(gid):
        r = DescribeSecurityGroupReferencesRequest()
        r.set_SecurityGroupIds([gid])
        return do(r)

    def delete(gid):
        r = DeleteSecurityGroupRequest()
        r.set_SecurityGroupId(gid)
        return do(r)

    if expect_sig_error:
        expect_raises(sdk, "CreateSecurityGroup with a wrong secret fails with the signature error",
                      lambda: create(unique_name("tapedeck-a")), ServerException,
                      lambda e: e.get_error_code() in ALI_CORE_SIG_CODES and e.get_http_status() == 400,
                      lambda e: "ServerException code=%s http_status=%s request_id=%s" % (
                          e.get_error_code(), e.get_http_status(), e.get_request_id()))
        return

    created = []
    try:
        a = call(sdk, "CreateSecurityGroup A", lambda: create(unique_name("tapedeck-a")))
        check(sdk, "CreateSecurityGroup A returns SecurityGroupId and RequestId",
              bool(a.get("SecurityGroupId")) and bool(a.get("RequestId")), json.dumps(a))
        a_id = a["SecurityGroupId"]
        created.append(a_id)
        b = call(sdk, "CreateSecurityGroup B", lambda: create(unique_name("tapedeck-b")))
        check(sdk, "CreateSecurityGroup B returns SecurityGroupId", bool(b.get("SecurityGroupId")), json.dumps(b))
        b_id = b["SecurityGroupId"]
        created.append(b_id)

        r = call(sdk, "AuthorizeSecurityGroup B <- SourceGroupId=A tcp 22/22",
                 lambda: do(rule_req(AuthorizeSecurityGroupRequest, b_id, a_id)))
        check(sdk, "AuthorizeSecurityGroup returns RequestId", bool(r.get("RequestId")), json.dumps(r))

        body = call(sdk, "DescribeSecurityGroupReferences(A)", lambda: refs(a_id))
        referencing = referencing_ids_raw(body, a_id)
        check(sdk, "DescribeSecurityGroupReferences(A) lists B as referencing group",
              referencing is not None and b_id in referencing, json.dumps(body))

        expect_raises(sdk, "DeleteSecurityGroup A while referenced fails with DependencyViolation",
                      lambda: delete(a_id), ServerException,
                      lambda e: e.get_error_code() == "DependencyViolation" and bool(e.get_request_id()),
                      lambda e: "code=%s http_status=%s request_id=%s" % (
                          e.get_error_code(), e.get_http_status(), e.get_request_id()))

        call(sdk, "RevokeSecurityGroup B <- SourceGroupId=A tcp 22/22",
             lambda: do(rule_req(RevokeSecurityGroupRequest, b_id, a_id)))

        body = call(sdk, "DescribeSecurityGroupReferences(A) after revoke", lambda: refs(a_id))
        referencing = referencing_ids_raw(body, a_id)
        check(sdk, "references of A are now empty", referencing is not None and not referencing,
              json.dumps(body))

        call(sdk, "DeleteSecurityGroup A succeeds", lambda: delete(a_id))
        created.remove(a_id)
        call(sdk, "DeleteSecurityGroup B succeeds", lambda: delete(b_id))
        created.remove(b_id)
    finally:
        for gid in created:  # best-effort cleanup after a failure
            try:
                delete(gid)
            except Exception:
                pass


def referencing_ids_raw(body, gid):
    """Parse the JSON shape the tea SDK model reads:
    {"SecurityGroupReferences": {"SecurityGroupReference": [{"SecurityGroupId": gid,
      "ReferencingSecurityGroups": {"ReferencingSecurityGroup": [{"SecurityGroupId", "AliUid"}]}}]}}
    Returns the set of referencing group ids (empty if gid has no entry), None if malformed."""
    try:
        out = set()
        for ref in body["SecurityGroupReferences"]["SecurityGroupReference"]:
            if ref.get("SecurityGroupId") != gid:
                continue
            for g in ref["ReferencingSecurityGroups"]["ReferencingSecurityGroup"]:
                out.add(g["SecurityGroupId"])
        return out
    except (KeyError, TypeError, AttributeError):
        return None


# =============================================================== alibabacloud-ecs20140526 (tea)

def flow_tea(host, port, ak, sk, expect_sig_error):
    sdk = label("tea-acs3", "alibabacloud-ecs20140526")
    from alibabacloud_tea_openapi.utils_models import Config
    from alibabacloud_tea_openapi.exceptions import ClientException
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_ecs20140526 import models as m
    from darabonba.runtime import RuntimeOptions

    # retry_options=None (the default) means no retries; autoretry=False for older runtimes.
    client = Client(Config(access_key_id=ak, access_key_secret=sk, endpoint="%s:%d" % (host, port),
                           protocol=T.scheme, region_id=REGION, connect_timeout=5000, read_timeout=30000,
                           https_proxy=T.https_proxy, ca=T.ca_bundle))
    rt = lambda: RuntimeOptions(autoretry=False, max_attempts=0)

    def create(name):
        return client.create_security_group_with_options(
            m.CreateSecurityGroupRequest(region_id=REGION, security_group_name=name,
                                         description="tapedeck conformance"), rt())

    def perms(cls, a):
        return [cls(ip_protocol="tcp", port_range="22/22", source_group_id=a)]

    def refs(gid):
        return client.describe_security_group_references_with_options(
            m.DescribeSecurityGroupReferencesRequest(region_id=REGION, security_group_id=[gid]), rt())

    def delete(gid):
        return client.delete_security_group_with_options(
            m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=gid), rt())

    def referencing(resp, gid):
        body = resp.body
        if body is None or body.security_group_references is None:
            return None
        out = set()
        for ref in body.security_group_references.security_group_reference or []:
            if ref.security_group_id != gid:
                continue
            rs = ref.referencing_security_groups
            for g in (rs.referencing_security_group if rs else None) or []:
                out.add(g.security_group_id)
        return out

    def describe_err(e):
        return "%s code=%s status_code=%s request_id=%s" % (
            type(e).__name__, e.code, getattr(e, "status_code", None), getattr(e, "request_id", None))

    if expect_sig_error:
        expect_raises(sdk, "CreateSecurityGroup with a wrong secret fails with SignatureDoesNotMatch",
                      lambda: create(unique_name("tapedeck-a")), ClientException,
                      lambda e: e.code in ALI_SIG_CODES and e.status_code == 400, describe_err)
        return

    created = []
    try:
        a = call(sdk, "CreateSecurityGroup A", lambda: create(unique_name("tapedeck-a")))
        check(sdk, "CreateSecurityGroup A body has SecurityGroupId and RequestId",
              bool(a.body and a.body.security_group_id and a.body.request_id),
              "status=%s body=%s" % (a.status_code, a.body and a.body.to_map()))
        a_id = a.body.security_group_id
        created.append(a_id)
        b = call(sdk, "CreateSecurityGroup B", lambda: create(unique_name("tapedeck-b")))
        check(sdk, "CreateSecurityGroup B body has SecurityGroupId", bool(b.body and b.body.security_group_id))
        b_id = b.body.security_group_id
        created.append(b_id)

        r = call(sdk, "AuthorizeSecurityGroup B Permissions.1 SourceGroupId=A tcp 22/22",
                 lambda: client.authorize_security_group_with_options(
                     m.AuthorizeSecurityGroupRequest(region_id=REGION, security_group_id=b_id,
                                                     permissions=perms(m.AuthorizeSecurityGroupRequestPermissions,
                                                                       a_id)), rt()))
        check(sdk, "AuthorizeSecurityGroup body has RequestId", bool(r.body and r.body.request_id))

        resp = call(sdk, "DescribeSecurityGroupReferences(A)", lambda: refs(a_id))
        ids = referencing(resp, a_id)
        check(sdk, "DescribeSecurityGroupReferences(A) model lists B as referencing group",
              ids is not None and b_id in ids, json.dumps(resp.body.to_map() if resp.body else None))

        expect_raises(sdk, "DeleteSecurityGroup A while referenced fails with DependencyViolation",
                      lambda: delete(a_id), ClientException,
                      lambda e: e.code == "DependencyViolation" and e.request_id not in (None, "", "None"),
                      describe_err)

        call(sdk, "RevokeSecurityGroup B Permissions.1 SourceGroupId=A tcp 22/22",
             lambda: client.revoke_security_group_with_options(
                 m.RevokeSecurityGroupRequest(region_id=REGION, security_group_id=b_id,
                                              permissions=perms(m.RevokeSecurityGroupRequestPermissions, a_id)),
                 rt()))

        resp = call(sdk, "DescribeSecurityGroupReferences(A) after revoke", lambda: refs(a_id))
        ids = referencing(resp, a_id)
        check(sdk, "references of A are now empty", ids is not None and not ids,
              json.dumps(resp.body.to_map() if resp.body else None))

        call(sdk, "DeleteSecurityGroup A succeeds", lambda: delete(a_id))
        created.remove(a_id)
        call(sdk, "DeleteSecurityGroup B succeeds", lambda: delete(b_id))
        created.remove(b_id)
    finally:
        for gid in created:
            try:
                delete(gid)
            except Exception:
                pass


# =============================================================== huaweicloudsdkvpc v3

GROUP_KEYS = ["id", "name", "description", "project_id", "created_at", "updated_at",
              "enterprise_project_id", "tags", "security_group_rules"]
RULE_KEYS = ["id", "description", "security_group_id", "direction", "protocol", "ethertype", "multiport",
             "action", "priority", "remote_group_id", "remote_ip_prefix", "remote_address_group_id",
             "created_at", "updated_at", "project_id"]
# Keys whose value may legitimately be null in the seed example (rule fields).
RULE_NULLABLE = {"protocol", "multiport", "remote_ip_prefix", "remote_group_id", "remote_address_group_id"}


def flow_huawei(endpoint, ak, sk, project_id, expect_sig_error, signing="sha256"):
    """signing: sha256 (the default, SDK-HMAC-SHA256), sm3 (HttpConfig.signing_algorithm = HMAC_SM3:
    SDK-HMAC-SM3) or derived (derived AK/SK, V11-HMAC-SHA256, forced for every request)."""
    sdk = label({"sha256": "huawei-v3", "sm3": "huawei-v3-sm3", "derived": "huawei-v3-derived"}[signing], "huaweicloudsdkvpc")
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkvpc.v3 import VpcClient
    from huaweicloudsdkvpc.v3 import model as m

    cfg = HttpConfig.get_default_config()
    cfg.retry_times = 0
    cfg.timeout = (5, 30)
    if T.https_proxy:
        pu = urlsplit(T.https_proxy)
        cfg.proxy_protocol = pu.scheme
        cfg.proxy_host = pu.hostname
        cfg.proxy_port = pu.port
    if T.ca_bundle:
        cfg.ssl_ca_cert = T.ca_bundle
    credentials = BasicCredentials(ak, sk, project_id)
    use_signing(cfg, credentials, signing)
    client = (VpcClient.new_builder()
              .with_http_config(cfg)
              .with_credentials(credentials)
              .with_endpoint(endpoint)
              .build())

    def create(name):
        return client.create_security_group(m.CreateSecurityGroupRequest(
            body=m.CreateSecurityGroupRequestBody(security_group=m.CreateSecurityGroupOption(
                name=name, description="tapedeck conformance"))))

    def show(gid):
        return client.show_security_group(m.ShowSecurityGroupRequest(security_group_id=gid))

    def delete(gid):
        return client.delete_security_group(m.DeleteSecurityGroupRequest(security_group_id=gid))

    def delete_rule(rid):
        return client.delete_security_group_rule(m.DeleteSecurityGroupRuleRequest(security_group_rule_id=rid))

    def describe_err(e):
        return "%s status_code=%s error_code=%s error_msg=%s request_id=%s" % (
            type(e).__name__, e.status_code, e.error_code, e.error_msg, e.request_id)

    # The 3.0.x models differ: CreateSecurityGroupRuleOption.priority is typed 'str' (so a user of
    # that generation sends "priority": "1"), SecurityGroupInfo has no 'tags'. Send and read what
    # the installed generation declares.
    priority = "1" if m.CreateSecurityGroupRuleOption.openapi_types.get("priority") == "str" else 1
    has_tags = "tags" in m.SecurityGroupInfo.openapi_types

    if expect_sig_error:
        expect_raises(sdk, "CreateSecurityGroup with a wrong secret fails with 401 APIGW.0301",
                      lambda: create(unique_name("tapedeck-a")), ClientRequestException,
                      lambda e: e.status_code == 401 and e.error_code == "APIGW.0301" and bool(e.request_id),
                      describe_err)
        return

    created, rules = [], []
    try:
        a = call(sdk, "CreateSecurityGroup A", lambda: create(unique_name("tapedeck-a")))
        check(sdk, "CreateSecurityGroup A returns security_group.id and request_id",
              bool(a.security_group and a.security_group.id and a.request_id),
              "status=%s raw=%s" % (a.status_code, raw(a)))
        a_id = a.security_group.id
        created.append(a_id)
        b = call(sdk, "CreateSecurityGroup B", lambda: create(unique_name("tapedeck-b")))
        check(sdk, "CreateSecurityGroup B returns security_group.id", bool(b.security_group and b.security_group.id))
        b_id = b.security_group.id
        created.append(b_id)

        r = call(sdk, "CreateSecurityGroupRule on B remote_group_id=A ingress tcp 22",
                 lambda: client.create_security_group_rule(m.CreateSecurityGroupRuleRequest(
                     body=m.CreateSecurityGroupRuleRequestBody(security_group_rule=m.CreateSecurityGroupRuleOption(
                         security_group_id=b_id, direction="ingress", ethertype="IPv4", protocol="tcp",
                         multiport="22", remote_group_id=a_id, action="allow", priority=priority)))))
        rule = r.security_group_rule
        check(sdk, "CreateSecurityGroupRule returns the rule with remote_group_id=A",
              bool(rule and rule.id) and rule.remote_group_id == a_id and rule.security_group_id == b_id,
              "status=%s raw=%s" % (r.status_code, raw(r)))
        rule_id = rule.id
        rules.append(rule_id)

        s = call(sdk, "ShowSecurityGroup(B)", lambda: show(b_id))
        body = json.loads(s.raw_content or b"{}")
        sg = body.get("security_group") or {}
        missing = [k for k in GROUP_KEYS if k not in sg]
        check(sdk, "ShowSecurityGroup(B) security_group has every seed key", not missing, "missing %s" % missing)
        nulls = [k for k in GROUP_KEYS if sg.get(k) is None]
        check(sdk, "ShowSecurityGroup(B) security_group seed keys are non-null", not nulls, "null %s" % nulls)
        check(sdk, "ShowSecurityGroup(B) has request_id", bool(s.request_id), "request_id=%r" % s.request_id)
        model = s.security_group
        check(sdk, "ShowSecurityGroup(B) model: id/project_id/%srules typed" % ("tags/" if has_tags else ""),
              model.id == b_id and model.project_id == project_id
              and (not has_tags or isinstance(model.tags, list))
              and isinstance(model.security_group_rules, list),
              "id=%s project_id=%s" % (model.id, model.project_id))
        raw_rules = sg.get("security_group_rules") or []
        ours = [x for x in raw_rules if x.get("id") == rule_id]
        check(sdk, "ShowSecurityGroup(B) security_group_rules contains the new rule", len(ours) == 1,
              "rule ids %s" % [x.get("id") for x in raw_rules])
        bad = {}
        for x in raw_rules:
            miss = [k for k in RULE_KEYS if k not in x]
            if miss:
                bad[x.get("id")] = miss
        check(sdk, "every rule in ShowSecurityGroup(B) has every seed key (null allowed)", not bad,
              "missing %s" % bad)
        o = ours[0]
        nulls = [k for k in RULE_KEYS if o.get(k) is None and k not in ("remote_ip_prefix", "remote_address_group_id")]
        check(sdk, "the new rule's non-nullable fields are set", not nulls, "null %s" % nulls)
        mrule = [x for x in model.security_group_rules if x.id == rule_id][0]
        check(sdk, "the new rule reads back remote_group_id=A, direction/protocol/multiport/action/priority",
              mrule.remote_group_id == a_id and mrule.direction == "ingress" and mrule.protocol == "tcp"
              and mrule.multiport == "22" and mrule.action == "allow" and mrule.security_group_id == b_id
              and mrule.remote_ip_prefix is None and mrule.remote_address_group_id is None
              and mrule.priority == 1,
              json.dumps(o))

        lr = call(sdk, "ListSecurityGroupRules(remote_group_id=A)",
                  lambda: client.list_security_group_rules(m.ListSecurityGroupRulesRequest(remote_group_id=[a_id])))
        lids = [x.id for x in lr.security_group_rules or []]
        check(sdk, "ListSecurityGroupRules(remote_group_id=A) finds the rule", rule_id in lids, "ids %s" % lids)
        check(sdk, "ListSecurityGroupRules(remote_group_id=A) returns only rules referencing A",
              all(x.remote_group_id == a_id for x in lr.security_group_rules or []))
        lbody = json.loads(lr.raw_content or b"{}")
        check(sdk, "ListSecurityGroupRules has request_id and page_info",
              bool(lr.request_id) and isinstance(lbody.get("page_info"), dict),
              "keys %s" % sorted(lbody))

        unknown = unknown_uuid()
        expect_raises(sdk, "ShowSecurityGroup(unknown uuid) -> ClientRequestException 404 with error_code, request_id",
                      lambda: show(unknown), ClientRequestException,
                      lambda e: e.status_code == 404 and bool(e.error_code) and e.error_code != "404"
                      and bool(e.request_id),
                      describe_err)

        d = call(sdk, "DeleteSecurityGroupRule", lambda: delete_rule(rule_id))
        rules.remove(rule_id)
        check(sdk, "DeleteSecurityGroupRule status is 2xx", 200 <= d.status_code < 300, "status=%s" % d.status_code)
        d = call(sdk, "DeleteSecurityGroup A", lambda: delete(a_id))
        created.remove(a_id)
        check(sdk, "DeleteSecurityGroup A status is 2xx", 200 <= d.status_code < 300, "status=%s" % d.status_code)
        d = call(sdk, "DeleteSecurityGroup B", lambda: delete(b_id))
        created.remove(b_id)
        expect_raises(sdk, "ShowSecurityGroup(A) after delete -> 404", lambda: show(a_id), ClientRequestException,
                      lambda e: e.status_code == 404, describe_err)
    finally:
        for rid in rules:
            try:
                delete_rule(rid)
            except Exception:
                pass
        for gid in created:
            try:
                delete(gid)
            except Exception:
                pass


def raw(resp):
    c = getattr(resp, "raw_content", None)
    if isinstance(c, bytes):
        c = c.decode("utf-8", "replace")
    return (c or "")[:400]


# =============================================================== alibabacloud-ecs20140526 before ACS3

def flow_tea_rpc(host, port, ak, sk, expect_sig_error):
    """The tea generation from before the ACS3 switch: alibabacloud-ecs20140526 <= 2.1.0 calls
    alibabacloud-tea-openapi's do_rpcrequest (RPC signature v1, HMAC-SHA1) with the action's
    parameters in a form body; errors are Tea.exceptions.TeaException(code, message, data)."""
    sdk = label("tea-rpc", "alibabacloud-ecs20140526")
    from alibabacloud_tea_openapi.models import Config
    from alibabacloud_tea_util.models import RuntimeOptions
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_ecs20140526 import models as m
    from Tea.exceptions import TeaException

    client = Client(Config(access_key_id=ak, access_key_secret=sk, endpoint="%s:%d" % (host, port),
                           protocol=T.scheme, region_id=REGION, connect_timeout=5000, read_timeout=30000,
                           https_proxy=T.https_proxy))
    rt = lambda: RuntimeOptions(autoretry=False, max_attempts=0)

    def create(name):
        return client.create_security_group_with_options(
            m.CreateSecurityGroupRequest(region_id=REGION, security_group_name=name,
                                         description="tapedeck conformance"), rt())

    def rule(cls, b, a):
        return cls(region_id=REGION, security_group_id=b, ip_protocol="tcp", port_range="22/22", source_group_id=a)

    def refs(gid):
        return client.describe_security_group_references_with_options(
            m.DescribeSecurityGroupReferencesRequest(region_id=REGION, security_group_id=[gid]), rt())

    def delete(gid):
        return client.delete_security_group_with_options(
            m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=gid), rt())

    def referencing(resp, gid):
        body = resp.body
        if body is None or body.security_group_references is None:
            return None
        out = set()
        for ref in body.security_group_references.security_group_reference or []:
            if ref.security_group_id != gid:
                continue
            rs = ref.referencing_security_groups
            for g in (rs.referencing_security_group if rs else None) or []:
                out.add(g.security_group_id)
        return out

    def err_request_id(e):
        return (e.data or {}).get("RequestId") if isinstance(e.data, dict) else None

    def describe_err(e):
        return "%s code=%s message=%s request_id=%s" % (type(e).__name__, e.code, e.message, err_request_id(e))

    if expect_sig_error:
        expect_raises(sdk, "CreateSecurityGroup with a wrong secret fails with SignatureDoesNotMatch (400)",
                      lambda: create(unique_name("tapedeck-a")), TeaException,
                      lambda e: e.code in ALI_SIG_CODES and str(e.message).startswith("code: 400,"),
                      describe_err)
        return

    created = []
    try:
        a = call(sdk, "CreateSecurityGroup A", lambda: create(unique_name("tapedeck-a")))
        check(sdk, "CreateSecurityGroup A body has SecurityGroupId and RequestId",
              bool(a.body and a.body.security_group_id and a.body.request_id),
              "body=%s" % (a.body and a.body.to_map()))
        a_id = a.body.security_group_id
        created.append(a_id)
        b = call(sdk, "CreateSecurityGroup B", lambda: create(unique_name("tapedeck-b")))
        check(sdk, "CreateSecurityGroup B body has SecurityGroupId", bool(b.body and b.body.security_group_id))
        b_id = b.body.security_group_id
        created.append(b_id)

        r = call(sdk, "AuthorizeSecurityGroup B SourceGroupId=A tcp 22/22 (flat, pre-Permissions.N form)",
                 lambda: client.authorize_security_group_with_options(
                     rule(m.AuthorizeSecurityGroupRequest, b_id, a_id), rt()))
        check(sdk, "AuthorizeSecurityGroup body has RequestId", bool(r.body and r.body.request_id))

        attr = call(sdk, "DescribeSecurityGroupAttribute(B)",
                    lambda: client.describe_security_group_attribute_with_options(
                        m.DescribeSecurityGroupAttributeRequest(region_id=REGION, security_group_id=b_id), rt()))
        perms = (attr.body.permissions.permission if attr.body and attr.body.permissions else None) or []
        ours = [p for p in perms if p.source_group_id == a_id]
        check(sdk, "DescribeSecurityGroupAttribute(B) model has the rule: SourceGroupId=A, TCP, 22/22, ingress",
              len(ours) == 1 and (ours[0].ip_protocol or "").lower() == "tcp" and ours[0].port_range == "22/22"
              and ours[0].direction == "ingress" and attr.body.security_group_id == b_id,
              json.dumps(attr.body.to_map() if attr.body else None))

        resp = call(sdk, "DescribeSecurityGroupReferences(A)", lambda: refs(a_id))
        ids = referencing(resp, a_id)
        check(sdk, "DescribeSecurityGroupReferences(A) model lists B as referencing group",
              ids is not None and b_id in ids, json.dumps(resp.body.to_map() if resp.body else None))

        expect_raises(sdk, "DeleteSecurityGroup A while referenced fails with DependencyViolation (403)",
                      lambda: delete(a_id), TeaException,
                      lambda e: e.code == "DependencyViolation" and str(e.message).startswith("code: 403,")
                      and bool(err_request_id(e)),
                      describe_err)

        call(sdk, "RevokeSecurityGroup B SourceGroupId=A tcp 22/22",
             lambda: client.revoke_security_group_with_options(rule(m.RevokeSecurityGroupRequest, b_id, a_id), rt()))

        resp = call(sdk, "DescribeSecurityGroupReferences(A) after revoke", lambda: refs(a_id))
        ids = referencing(resp, a_id)
        check(sdk, "references of A are now empty", ids is not None and not ids,
              json.dumps(resp.body.to_map() if resp.body else None))

        call(sdk, "DeleteSecurityGroup A succeeds", lambda: delete(a_id))
        created.remove(a_id)
        call(sdk, "DeleteSecurityGroup B succeeds", lambda: delete(b_id))
        created.remove(b_id)
    finally:
        for gid in created:
            try:
                delete(gid)
            except Exception:
                pass


# =============================================================== apache-libcloud (third party)

def flow_libcloud(host, port, ak, sk, expect_sig_error):
    """apache-libcloud's Aliyun ECS driver (libcloud.compute.drivers.ecs): RPC signature v1 with
    every parameter in a GET query, Format=XML; errors are BaseHTTPError(code=status, message=str of
    {'code', 'message', 'request_id', 'host_id'}). The driver has no rule calls, so Authorize/Revoke
    go through its signed connection, as a libcloud user does for calls the driver lacks."""
    sdk = label("libcloud-ecs", "apache-libcloud")
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider
    from libcloud.common.exceptions import BaseHTTPError
    from libcloud.utils.xml import findtext

    kwargs = {"timeout": 30}
    if T.https_proxy:
        kwargs["proxy_url"] = T.https_proxy
    if T.ca_bundle:
        import libcloud.security
        libcloud.security.CA_CERTS_PATH = T.ca_bundle
    driver = get_driver(Provider.ALIYUN_ECS)(ak, sk, secure=(T.scheme == "https"), host=host, port=port,
                                             region=REGION, **kwargs)

    def err(e):
        """BaseHTTPError.message is str() of the driver's error dict."""
        try:
            d = ast.literal_eval(e.message) if isinstance(e.message, str) else e.message
            return d if isinstance(d, dict) else {}
        except (ValueError, SyntaxError):
            return {}

    def describe_err(e):
        return "%s code=%s error=%s" % (type(e).__name__, getattr(e, "code", None), getattr(e, "message", None))

    def listed(name):
        return driver.ex_list_security_groups(ex_filters={"SecurityGroupName": name})

    def rule(action, b, a):
        resp = driver.connection.request(driver.path, {
            "Action": action, "RegionId": REGION, "SecurityGroupId": b, "SourceGroupId": a,
            "IpProtocol": "tcp", "PortRange": "22/22"})
        return resp

    if expect_sig_error:
        expect_raises(sdk, "CreateSecurityGroup with a wrong secret fails with 400 SignatureDoesNotMatch",
                      lambda: driver.ex_create_security_group(description="tapedeck conformance"), BaseHTTPError,
                      lambda e: e.code == 400 and err(e).get("code") in ALI_SIG_CODES and bool(err(e).get("request_id")),
                      describe_err)
        return

    created = []
    try:
        token = unique_name("tapedeck-lc-token")
        a_id = call(sdk, "ex_create_security_group A (CreateSecurityGroup, ClientToken)",
                    lambda: driver.ex_create_security_group(description="tapedeck conformance", client_token=token))
        check(sdk, "ex_create_security_group returns an sg- id", isinstance(a_id, str) and a_id.startswith("sg-"),
              repr(a_id))
        created.append(a_id)
        again = call(sdk, "ex_create_security_group again with the same ClientToken",
                     lambda: driver.ex_create_security_group(description="tapedeck conformance", client_token=token))
        check(sdk, "the same ClientToken returns the same group (idempotent create)", again == a_id,
              "first %s, again %s" % (a_id, again))
        b_id = call(sdk, "ex_create_security_group B", lambda: driver.ex_create_security_group(
            description="tapedeck conformance"))
        created.append(b_id)

        name_a = unique_name("tapedeck-lc-a")
        ok = call(sdk, "ex_modify_security_group_by_id A name+description (ModifySecurityGroupAttribute)",
                  lambda: driver.ex_modify_security_group_by_id(a_id, name=name_a,
                                                                description="tapedeck conformance modified"))
        check(sdk, "ex_modify_security_group_by_id returns True", ok is True, repr(ok))
        groups = call(sdk, "ex_list_security_groups(SecurityGroupName=A's new name) (DescribeSecurityGroups XML)",
                      lambda: listed(name_a))
        check(sdk, "the list has exactly A, with the new name, description and a CreationTime",
              [(g.id, g.name, g.description) for g in groups] == [(a_id, name_a, "tapedeck conformance modified")]
              and bool(groups[0].creation_time),
              repr([(g.id, g.name, g.description, g.creation_time) for g in groups]))

        resp = call(sdk, "AuthorizeSecurityGroup B <- SourceGroupId=A tcp 22/22 (driver.connection.request)",
                    lambda: rule("AuthorizeSecurityGroup", b_id, a_id))
        check(sdk, "AuthorizeSecurityGroup XML answer has RequestId",
              resp.status == 200 and bool(findtext(resp.object, "RequestId")), resp.body[:300])

        perms = call(sdk, "ex_list_security_group_attributes(B) (DescribeSecurityGroupAttribute XML)",
                     lambda: driver.ex_list_security_group_attributes(b_id))
        ours = [p for p in perms if p.source_group_id == a_id]
        check(sdk, "B's attributes have the rule: SourceGroupId=A, TCP, 22/22, Accept",
              len(ours) == 1 and ours[0].ip_protocol.lower() == "tcp" and ours[0].port_range == "22/22"
              and ours[0].policy == "Accept",
              repr([vars(p) for p in perms]))

        expect_raises(sdk, "ex_delete_security_group_by_id A while referenced fails with 403 DependencyViolation",
                      lambda: driver.ex_delete_security_group_by_id(a_id), BaseHTTPError,
                      lambda e: e.code == 403 and err(e).get("code") == "DependencyViolation"
                      and bool(err(e).get("request_id")),
                      describe_err)

        call(sdk, "RevokeSecurityGroup B <- SourceGroupId=A tcp 22/22", lambda: rule("RevokeSecurityGroup", b_id, a_id))
        perms = call(sdk, "ex_list_security_group_attributes(B) after revoke",
                     lambda: driver.ex_list_security_group_attributes(b_id))
        check(sdk, "B no longer has a rule from A", not [p for p in perms if p.source_group_id == a_id],
              repr([vars(p) for p in perms]))

        ok = call(sdk, "ex_delete_security_group_by_id A", lambda: driver.ex_delete_security_group_by_id(a_id))
        created.remove(a_id)
        check(sdk, "ex_delete_security_group_by_id A returns True", ok is True, repr(ok))
        ok = call(sdk, "ex_delete_security_group_by_id B", lambda: driver.ex_delete_security_group_by_id(b_id))
        created.remove(b_id)
        groups = call(sdk, "ex_list_security_groups(SecurityGroupName=A's name) after delete", lambda: listed(name_a))
        check(sdk, "A is gone from the list", groups == [], repr(groups))
    finally:
        for gid in created:
            try:
                driver.ex_delete_security_group_by_id(gid)
            except Exception:
                pass


# =============================================================== main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="http(s)://HOST:PORT of the simulator (or proxy)")
    ap.add_argument("--https-proxy", metavar="URL",
                    help="forward proxy (http://HOST:PORT) every SDK uses for HTTPS (CONNECT)")
    ap.add_argument("--ca-bundle", metavar="FILE", help="CA file the SDKs verify the server certificate with")
    ap.add_argument("--ak", default=DEFAULT_AK)
    ap.add_argument("--sk", default=DEFAULT_SK)
    ap.add_argument("--project-id", default=DEFAULT_PROJECT)
    ap.add_argument("--expect-signature-error", action="store_true")
    ap.add_argument("--only", default="aliyun-core,tea,huawei", help="comma list of flows to run")
    args = ap.parse_args()

    u = urlsplit(args.endpoint)
    if u.scheme not in ("http", "https") or not u.hostname or not u.port:
        print("--endpoint must look like http(s)://HOST:PORT, got %r" % args.endpoint)
        return 2
    if args.https_proxy:
        pu = urlsplit(args.https_proxy)
        if pu.scheme not in ("http", "https") or not pu.hostname or not pu.port:
            print("--https-proxy must look like http://HOST:PORT, got %r" % args.https_proxy)
            return 2
        if u.scheme != "https":
            print("--https-proxy needs an https:// --endpoint, got %r" % args.endpoint)
            return 2
        # The proxy is configured per SDK; do not let NO_PROXY=127.0.0.1 bypass it.
        for v in ("NO_PROXY", "no_proxy"):
            os.environ.pop(v, None)
    if args.ca_bundle and not os.path.isfile(args.ca_bundle):
        print("--ca-bundle %r is not a file" % args.ca_bundle)
        return 2
    T.scheme, T.https_proxy, T.ca_bundle = u.scheme, args.https_proxy, args.ca_bundle
    host, port = u.hostname, u.port
    endpoint = "%s://%s:%d" % (u.scheme, host, port)
    flows = {
        "aliyun-core": lambda: flow_aliyun_core(host, port, args.ak, args.sk, args.expect_signature_error),
        "tea": lambda: flow_tea(host, port, args.ak, args.sk, args.expect_signature_error),
        "huawei": lambda: flow_huawei(endpoint, args.ak, args.sk, args.project_id, args.expect_signature_error),
        "huawei-sm3": lambda: flow_huawei(endpoint, args.ak, args.sk, args.project_id, args.expect_signature_error, "sm3"),
        "huawei-derived": lambda: flow_huawei(
            endpoint, args.ak, args.sk, args.project_id, args.expect_signature_error, "derived"),
        "tea-rpc": lambda: flow_tea_rpc(host, port, args.ak, args.sk, args.expect_signature_error),
        "libcloud": lambda: flow_libcloud(host, port, args.ak, args.sk, args.expect_signature_error),
    }
    wanted = [f.strip() for f in args.only.split(",") if f.strip()]
    for name in wanted:
        if name not in flows:
            print("unknown flow %r (known: %s)" % (name, ", ".join(flows)))
            return 2
    mode = "expecting signature errors" if args.expect_signature_error else "happy path"
    via = " via proxy %s, CA %s" % (T.https_proxy, T.ca_bundle) if T.https_proxy else ""
    print("# conformance against %s%s, ak=%s, %s" % (endpoint, via, args.ak, mode), flush=True)
    install_wire_spy()
    results = []
    for name in wanted:
        print("# flow %s: %s" % (name, versions(name)), flush=True)
        passed, failed, since = R.passed, R.failed, len(Wire.sent)
        try:
            flows[name]()
        except CheckFailed as e:
            print("# %s flow stopped: %s" % (name, e), flush=True)
        except Exception as e:
            R.fail(name, "unexpected error", "%s: %s" % (type(e).__name__, e))
            traceback.print_exc()
        try:
            check_wire(name, since)
        except CheckFailed:
            pass
        p, f = R.passed - passed, R.failed - failed
        results.append("# result %s %s %d %d %s" % (name, "PASS" if p and not f else "FAIL", p, f,
                                                    versions(name).replace(" ", "=").replace(",=", ",")))
    for line in results:
        print(line, flush=True)
    print("%d passed, %d failed" % (R.passed, R.failed), flush=True)
    return 1 if R.failed or R.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
