#!/usr/bin/env python3
"""Dump the JSON key trees the SDK model classes read (helper for SDK-API-NOTES.md).

  .build-venv/bin/python scripts/dump_sdk_models.py tea DescribeSecurityGroupReferencesResponseBody ...
  .build-venv/bin/python scripts/dump_sdk_models.py huawei ShowSecurityGroupResponse ...
"""
import inspect
import re
import sys


def tea_tree(cls, indent=0, seen=()):
    from alibabacloud_ecs20140526 import models as mm
    src = inspect.getsource(cls.from_map).splitlines()
    sig = inspect.signature(cls.__init__)
    ann = {n: p.annotation for n, p in sig.parameters.items() if n != "self"}
    out = []
    i = 0
    while i < len(src):
        line = src[i]
        m = re.search(r"m\.get\('([^']+)'\) is not None", line)
        if m:
            key = m.group(1)
            block = []
            j = i + 1
            while j < len(src) and not re.search(r"m\.get\('([^']+)'\) is not None", src[j]) \
                    and "return self" not in src[j]:
                block.append(src[j])
                j += 1
            text = "\n".join(block)
            attr = re.search(r"self\.(\w+)\s*(=|\.append)", text)
            attr = attr.group(1) if attr else "?"
            nested = re.search(r"temp_model = main_models\.(\w+)\(\)", text)
            is_list = "for k1 in" in text
            t = str(ann.get(attr, "?")).replace("main_models.", "")
            t = re.sub(r"\w+ResponseBody\w*", "object", t) if nested else t
            out.append("%s- %s%s: %s" % ("  " * indent, key, "[]" if is_list else "", t))
            if nested and nested.group(1) not in seen:
                out.extend(tea_tree(getattr(mm, nested.group(1)), indent + 1, seen + (nested.group(1),)))
            i = j
        else:
            i += 1
    return out


def hw_tree(cls, indent=0, seen=()):
    from huaweicloudsdkvpc.v3 import model as mm
    out = []
    for attr, typ in cls.openapi_types.items():
        key = cls.attribute_map[attr]
        inner = re.sub(r"^list\[(.*)\]$", r"\1", typ)
        out.append("%s- %s: %s" % ("  " * indent, key, typ))
        if hasattr(mm, inner) and getattr(getattr(mm, inner), "openapi_types", None) and inner not in seen:
            out.extend(hw_tree(getattr(mm, inner), indent + 1, seen + (inner,)))
    return out


def main():
    kind, names = sys.argv[1], sys.argv[2:]
    if kind == "tea":
        from alibabacloud_ecs20140526 import models as mm
        for n in names:
            print("### %s\n" % n)
            print("\n".join(tea_tree(getattr(mm, n))))
            print()
    else:
        from huaweicloudsdkvpc.v3 import model as mm
        for n in names:
            print("### %s\n" % n)
            print("\n".join(hw_tree(getattr(mm, n))))
            print()


if __name__ == "__main__":
    main()
