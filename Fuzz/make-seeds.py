#!/usr/bin/env python3
"""Writes the seed corpora (Fuzz/corpus/<target>/seed-NN): valid inputs and the known hostile ones.

Run again after adding a seed here; findings are added by hand as Fuzz/corpus/<target>/crash-<what> files."""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = {
    "http-date": [
        "Sun, 22 Nov 2026 09:52:19 GMT", "Sun, 22 Nov 2026 3000000000000000:00:00 GMT",
        "Sun, 22 Nov 99999999999999999999 09:52:19 GMT", "Mon, 31 Feb 2026 09:52:19 GMT",
        "2026-11-22T09:48:51.812325Z", "2026-11-22 09:48:51+09:00", "2026-11-22T09:48:51.0000000000000000000000001-0930",
        "0000-01-01T00:00:00Z", "9999-12-31T23:59:60Z", "20261122T095219Z",
    ],
    "authorization": [
        "BackendAI signMethod=HMAC-SHA256, credential=AKIAEXAMPLE:0123abcd", "BackendAI signMethod=HMAC-SHA256",
        "Sorna credential=:", "BackendAI a=b,c=d,credential=x:y:z", "BackendAI " + "a=b," * 200,
        "theme=dark; bai_ui=" + "aB3-_" * 8 + "xyz", "bai_ui=" + "A" * 42 + "=; bai_ui=;;=",
    ],
    "json": [
        '{"a": [1, 2.5, -3e10, true, false, null, "x\\u00e9\\ud83d\\ude00"]}', "[" * 600 + "]" * 600,
        '{"a": 1, "a": 2}', '"\\u0000"', '1e400', '{"k": "\\ud800"}', '[1,]',
    ],
    "session-create": [
        json.dumps({"name": "s1", "image": "python:3.11", "type": "batch", "startupCommand": "echo hi",
                    "config": {"resources": {"cpu": 1, "mem": "1g"}, "environ": {"A": "1"},
                               "mounts": ["data"], "mount_map": {"data": "/home/work/d"}},
                    "dependencies": ["a", "b"], "starts_at": "2026-11-22T09:48:51Z"}),
        json.dumps({"name": "s2", "image": "x", "config": {"environ": {"A": 1}}}),
        json.dumps({"name": "s3", "image": "x", "config": {"environ": {"A=B": "1", "": "2"}}}),
        json.dumps({"name": "s4", "image": "x", "config": {"mount_map": {f"f{i}": f"p{i}" for i in range(100)}}}),
        json.dumps({"name": "s5", "image": "x", "dependencies": [f"d{i}" for i in range(100)]}),
        json.dumps({"name": "s6", "image": "x", "starts_at": "99999-01-01T00:00:00Z", "config": {"resources": {"cpu": "1e30"}}}),
    ],
    "agent-protocol": [
        json.dumps({"agent": {"id": "a1", "scaling_group": "default", "architecture": "x86_64",
                              "available_slots": {"cpu": "8", "mem": "8g"}, "addr": "", "version": "1"},
                    "acked": [1, 2], "reports": [{"session_id": "00000000-0000-0000-0000-000000000001", "status": "TERMINATED",
                                                  "exit_code": 0, "log": "hi", "log_offset": 0}], "wait": 1}),
        json.dumps({"commands": [{"id": 1, "kind": "start", "session_id": "00000000-0000-0000-0000-000000000001",
                                  "spec": {"name": "s", "type": "batch", "access_key": "AK", "command": "true",
                                           "environ": {"A": 1}, "slots": {}}},
                                 {"id": 2, "kind": "reboot", "session_id": "00000000-0000-0000-0000-000000000002"}],
                    "heartbeat_interval": 10}),
        json.dumps({"agent": {"id": "a1", "scaling_group": "default", "architecture": "x86_64", "available_slots": {},
                              "addr": "", "version": "1"}, "acked": [], "reports": [], "wait": 1e308}),
        json.dumps({"agent": {"id": "a1", "scaling_group": "default", "architecture": "x86_64", "available_slots": {},
                              "addr": "", "version": "1"}, "acked": [], "wait": 0,
                    "reports": [{"session_id": "00000000-0000-0000-0000-000000000001", "status": "RUNNING",
                                 "log": "x", "log_offset": 9223372036854775807}]}),
    ],
    "graphql": [
        "query($limit: Int!) { compute_session_list(limit: $limit, offset: 0) { items { id name status containers { id } } total_count } }",
        "{ " + "a { " * 3000 + "}" * 3000 + " }", "query { agent_list(limit: 100, offset: 0) { items { id } } }",
        "fragment F on Query { ...F } { ...F }", "{ a: agent_list(limit: 1, offset: 0) { total_count } b: agent_list(limit: 1, offset: 0) { total_count } }",
        "query ($v: [[[[[[[[Int]]]]]]]]) { __typename }", '{ x(a: """block " string""") }', "# comment only",
    ],
    "toml": [
        '[server]\nport = 8091\n[scheduler]\ntick_interval = "1s"\n[graphql]\nmax_depth = 12\n',
        "a = " + "[" * 2000 + "]" * 2000 + "\n", '[server]\nshutdown_grace = 1e300\n', '[server]\nport = 99999999999999999999999\n',
        "[[webhooks]]\nname = 'w'\nurl = 'http://x'\n" * 3, 'x = "\\u0000"\n',
    ],
    "amounts": [
        "10s", "1h30m", "1.5d", "-2h", "1e5s", 'name ilike "%x%"', 'status == "RUNNING" & type == "batch"',
        '!(tag isnull) | exit_code >= -1', 'type not in ["batch", "x"]', "-created_at,name", "(" * 40 + "a == 1" + ")" * 40,
        "1", "0.5", "1g", "16.5m", "99999999999999999999g", "1e30", "-1", "1.0000000000001", "30m", "1e308w", "1.5h",
        '{"cpu": "1", "mem": "1g"}', '{"pending_timeout": "1e308w"}',
    ],
    "paths": [
        "a/b/c.txt", ".", "", "../x", "/etc/passwd", "a\u0000b", "./a//b/", "a" * 300, "a/" * 3000, "bytes=0-", "bytes=3-9",
        "bytes=-5", "bytes=5-2", "bytes=0-99999999999999999999", "bytes=1-2,3-4", "eyJqdGkiOiJ4In0.AAAA", "..", "a.b.c",
    ],
    "request-path": [
        b"\x01/session\x00now\x00application/json\x00" + json.dumps({"name": "s", "image": "x", "config": {"environ": {"A": 1}}}).encode(),
        b"\x01/admin/gql\x00now\x00application/json\x00" + json.dumps({"query": "{ " + "a { " * 3000 + "}" * 3000 + " }"}).encode(),
        b"\x00/session/s1/dependency-graph\x00now\x00application/json\x00",
        b"\x00/session/s1\x00Sun, 22 Nov 2026 3000000000000000:00:00 GMT\x00application/json\x00",
        b"\x81/session\x00now\x00application/json\x00" + b'{"name": "s", "image": "\\u0000"}',
        b"\x02/session/x?owner_access_key=%00\x00now\x00text/plain\x00",
        b"\xc0/health\x00\x00\x00",
        b"\x01/folders\x00now\x00application/json\x00" + json.dumps({"name": "a\u0000b", "host": "local:volume1"}).encode(),
        b"\x01/folders/f1/clone\x00now\x00application/json\x00" + json.dumps({"target_name": "../x", "target_host": 1}).encode(),
        b"\x01/folders/purge\x00now\x00application/json\x00" + b'{"id": "zz"}',
        b"\x00/folders?all=true&group_id=%00\x00now\x00application/json\x00",
        b"\x00/webhooks/deliveries?limit=99999999999999999999&offset=-1\x00now\x00application/json\x00",
        b"\x00/events/background-task?task_id=nope\x00now\x00application/json\x00",
        b"\x01/agent-rpc/sync\x00now\x00application/json\x00" + json.dumps({"agent": {"id": "a1", "scaling_group": "default",
            "architecture": "x86_64", "available_slots": {"cpu": "1e400"}, "addr": "", "version": "1"}, "acked": [], "wait": 0,
            "reports": [{"session_id": "00000000-0000-0000-0000-000000000001", "status": "FAILED", "reason": "x",
                         "log_offset": 9223372036854775807}]}).encode(),
    ],
    # The first line is the Content-Type, the rest the body (what `POST /session/{name}/upload` reads).
    "multipart": [
        b'multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="src"; filename="inbox%2Fdata.txt"\r\n'
        b'Content-Type: application/octet-stream\r\n\r\nhello\r\n--XyZ--\r\n',
        b'multipart/form-data; boundary="q q"\n--q q\r\nContent-Disposition: form-data; name="src"; filename*=utf-8\'\'%C3%A9t%C3%A9.txt\r\n\r\n\r\n--q q--\r\n',
        b'multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b\r\n' + b"X: y\r\n" * 100 + b'\r\n--b--',
        b'multipart/form-data; boundary=\n--\r\n\r\n',
        b'multipart/form-data; boundary=' + b"a" * 71 + b'\n',
        b'multipart/form-data; boundary=z\n--z\r\nContent-Disposition: form-data; name="src"; filename="../../etc/passwd"\r\n\r\nroot\r\n--z--\r\n',
        b'text/plain\nnot multipart',
    ],
}

for target, seeds in SEEDS.items():
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for index, seed in enumerate(seeds):
        data = seed if isinstance(seed, bytes) else seed.encode()
        with open(os.path.join(folder, f"seed-{index:02d}"), "wb") as f:
            f.write(data)
