#!/usr/bin/env python3
"""Server-side figures of `virtguard serve --api` (BENCHMARKS.md, issue 11): LIST of every
RoleBinding in pages of 500 over one keep-alive mTLS connection, and 2,000 SubjectAccessReview
round trips. Loopback only, bounded.

    bench/api-facade.py KUBECONFIG HOST PORT      # needs PyYAML; a kubeconfig from `virtguard kubeconfig`
"""
import base64, json, os, ssl, tempfile, time, http.client, yaml, sys, urllib.parse
kc = yaml.safe_load(open(sys.argv[1]))
host, port = sys.argv[2], int(sys.argv[3])
d0 = tempfile.mkdtemp()
p = lambda n: os.path.join(d0, n)
u = kc['users'][0]['user']; c = kc['clusters'][0]['cluster']
open(p('c.crt'),'wb').write(base64.b64decode(u['client-certificate-data']))
open(p('c.key'),'wb').write(base64.b64decode(u['client-key-data']))
open(p('ca.crt'),'wb').write(base64.b64decode(c['certificate-authority-data']))
ctx = ssl.create_default_context(cafile=p('ca.crt')); ctx.load_cert_chain(p('c.crt'),p('c.key'))
conn = http.client.HTTPSConnection(host, port, context=ctx)
tok = ''; n = 0; pages = 0; server = 0.0; t0 = time.time()
while True:
    q = 'limit=500' + ('&continue=' + urllib.parse.quote(tok) if tok else '')
    s = time.time(); conn.request('GET', '/apis/rbac.authorization.k8s.io/v1/rolebindings?' + q)
    r = conn.getresponse(); body = r.read(); server += time.time() - s
    d = json.loads(body); n += len(d['items']); pages += 1
    tok = d['metadata'].get('continue', '')
    if not tok: break
print(f"{n} items in {pages} pages; request+response time {server:.3f} s; total {time.time()-t0:.3f} s")
# SAR round trips
sar = json.dumps({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"system:serviceaccount:tenant-3:sa-0","groups":["system:serviceaccounts","system:authenticated"],"resourceAttributes":{"namespace":"tenant-3","verb":"get","group":"kubevirt.io","resource":"virtualmachineinstances"}}})
lat = []
for i in range(2000):
    s = time.time(); conn.request('POST','/apis/authorization.k8s.io/v1/subjectaccessreviews', body=sar, headers={'Content-Type':'application/json'}); r = conn.getresponse(); r.read(); lat.append(time.time()-s)
lat.sort(); print(f"SAR keep-alive round trip: p50 {lat[1000]*1000:.2f} ms p99 {lat[1980]*1000:.2f} ms")
