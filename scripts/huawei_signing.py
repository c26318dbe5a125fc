"""How a huaweicloudsdkcore client is told to sign with each algorithm the simulator verifies; shared by
scripts/capture_sdk_requests.py (fixtures) and scripts/conformance_flows.py (conformance flows)."""


def use_signing(cfg, credentials, signing):
    """signing: "sha256" (the default, SDK-HMAC-SHA256), "sm3" (HttpConfig.signing_algorithm = HMAC_SM3:
    SDK-HMAC-SM3) or "derived" (derived AK/SK, V11-HMAC-SHA256). The SDK signs with derived keys for the
    services that declare a derived auth service name and a region; VPC declares none, so both are set here
    as such a client would have them, and every request is signed that way."""
    if signing == "sm3":
        from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
        cfg.signing_algorithm = SigningAlgorithm.HMAC_SM3
    elif signing == "derived":
        credentials.with_derived_predicate(lambda request: True)
        credentials._process_derived_auth_params("vpc", "cn-north-4")
    elif signing != "sha256":
        raise ValueError("unknown signing %r" % signing)
