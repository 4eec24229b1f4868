#!/usr/bin/env python3
"""Load generator for `virtguard serve --admission` (BENCHMARKS.md, issue 13): AdmissionReviews of
a ~20 KiB VirtualMachine over mTLS keep-alive connections at a fixed total rate, bounded in time;
prints the rate reached, errors, and latency percentiles (client-measured: request to last byte).

    bench/admission-load.py KUBECONFIG HOST PORT [RATE=2000] [SECONDS=10] [CONNECTIONS=4]   # PyYAML
"""
import base64, json, os, ssl, sys, tempfile, threading, time, http.client, yaml

kc = yaml.safe_load(open(sys.argv[1]))
host, port = sys.argv[2], int(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 2000.0
seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
conns = int(sys.argv[6]) if len(sys.argv) > 6 else 4
d0 = tempfile.mkdtemp()
p = lambda n: os.path.join(d0, n)
u = kc['users'][0]['user']; c = kc['clusters'][0]['cluster']
open(p('c.crt'), 'wb').write(base64.b64decode(u['client-certificate-data']))
open(p('c.key'), 'wb').write(base64.b64decode(u['client-key-data']))
open(p('ca.crt'), 'wb').write(base64.b64decode(c['certificate-authority-data']))

def vm(i):
    disks = [{"name": f"disk{n}", "disk": {"bus": "virtio"}, "shareable": n == 3} for n in range(40)]
    volumes = [{"name": f"disk{n}", "dataVolume": {"name": f"dv-{i}-{n}"}} for n in range(40)]
    ifaces = [{"name": f"net{n}", "bridge": {}} for n in range(20)]
    nets = [{"name": f"net{n}", "multus": {"networkName": f"ns/nad-{n}"}} for n in range(20)]
    ann = {f"example.com/note-{n}": "x" * 120 for n in range(90)}
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": f"vm-{i}", "namespace": "tenant-a", "annotations": ann, "labels": {"app": "db"}},
            "spec": {"runStrategy": "Always", "template": {"spec": {
                "domain": {"cpu": {"cores": 4}, "memory": {"guest": "8Gi"},
                           "devices": {"disks": disks, "interfaces": ifaces,
                                       "gpus": [{"name": "g", "deviceName": "nvidia.com/A100"}] if i % 10 == 0 else []}},
                "networks": nets, "volumes": volumes}}}}

def review(i):
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"u-{i}", "kind": {"group": "kubevirt.io", "version": "v1", "kind": "VirtualMachine"},
        "resource": {"group": "kubevirt.io", "version": "v1", "resource": "virtualmachines"},
        "namespace": "tenant-a", "name": f"vm-{i}", "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]}, "object": vm(i), "dryRun": False}})

bodies = [review(i).encode() for i in range(50)]
print(f"review size {len(bodies[1])} bytes; {rate:.0f}/s for {seconds:.0f} s over {conns} connections")
lat, errors, denied, lock = [], [0], [0], threading.Lock()

def worker(k):
    ctx = ssl.create_default_context(cafile=p('ca.crt')); ctx.load_cert_chain(p('c.crt'), p('c.key'))
    conn = http.client.HTTPSConnection(host, port, context=ctx)
    period = conns / rate
    t0 = time.perf_counter() + k * (period / conns)
    n = 0; mine = []
    while True:
        due = t0 + n * period
        now = time.perf_counter()
        if due - (t0) > seconds:
            break
        if due > now:
            time.sleep(due - now)
        s = time.perf_counter()
        try:
            conn.request('POST', '/validate', body=bodies[n % len(bodies)], headers={'Content-Type': 'application/json'})
            r = conn.getresponse(); body = r.read()
            mine.append(time.perf_counter() - s)
            if r.status != 200:
                with lock: errors[0] += 1
            elif b'"allowed":false' in body:
                with lock: denied[0] += 1
        except Exception:
            with lock: errors[0] += 1
            conn = http.client.HTTPSConnection(host, port, context=ctx)
        n += 1
    with lock: lat.extend(mine)

start = time.perf_counter()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
wall = time.perf_counter() - start
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000
print(f"{len(lat)} reviews in {wall:.2f} s = {len(lat)/wall:.0f}/s; errors {errors[0]}; denied {denied[0]}")
print(f"latency p50 {q(0.5):.2f} ms  p90 {q(0.9):.2f} ms  p99 {q(0.99):.2f} ms  max {lat[-1]*1000:.2f} ms")
