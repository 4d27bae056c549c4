"""A PATCH adding 40,000 e-mails, and another tenant's create sent meanwhile.

Usage: python3 scripts/hostile/huge-patch.py target/release/scimgate
See BENCHMARKS.md, "Hostile and oversized requests".
"""
import json, os, subprocess, sys, threading, time, urllib.request, tempfile
BIN = sys.argv[1]
d = tempfile.mkdtemp(); env = dict(os.environ, SCIMGATE_DATABASE_URL=f"sqlite://{d}/db", RUST_LOG="warn", SCIMGATE_TENANT_RATE_LIMIT="0")
def cli(*a): return subprocess.run([BIN, *a], env=env, capture_output=True, text=True, check=True).stdout
cli("tenant", "create", "acme"); cli("tenant", "create", "globex")
tok = lambda t: json.loads(cli("--json", "token", "create", "--tenant", t, "--name", "b"))["token"]
A, G = tok("acme"), tok("globex")
srv = subprocess.Popen([BIN, "serve", "--bind", "127.0.0.1:18081"], env=env, stderr=subprocess.DEVNULL)
time.sleep(1.0)
def req(method, path, token, body=None):
    r = urllib.request.Request("http://127.0.0.1:18081/scim/v2" + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})
    t = time.time()
    try:
        with urllib.request.urlopen(r) as resp: code = resp.status; data = resp.read()
    except urllib.error.HTTPError as e: code = e.code; data = e.read()
    return code, time.time() - t, data
try:
    for run in range(3):
        code, _, data = req("POST", "/Users", A, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"many{run}@x.io"})
        uid = json.loads(data)["id"]
        emails = [{"value": f"m{i}@x.io"} for i in range(40000)]
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "emails", "value": emails}]}
        out = {}
        th = threading.Thread(target=lambda: out.update(p=req("PATCH", f"/Users/{uid}", A, body)))
        th.start(); time.sleep(0.05)
        oc, ot, _ = req("POST", "/Users", G, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"meanwhile{run}@globex.io"})
        th.join()
        pc, pt, _ = out["p"]
        print(f"run {run+1}: PATCH of 40,000 e-mails ({len(json.dumps(body))//1024} KiB): {pc} in {pt:.2f} s; other tenant's create: {oc} in {ot:.3f} s")
finally:
    srv.terminate(); srv.wait()
