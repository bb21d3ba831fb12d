import json, sys, threading, time, urllib.request
base, user, pw, secs, threads = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
count = [0]; lat = []
def run():
    end = time.time() + secs
    while time.time() < end:
        t = time.time()
        req = urllib.request.Request(base + "/users/tokens/issue", data=json.dumps({"username": user, "password": pw}).encode(), headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req).read()
        except Exception:
            pass
        lat.append(time.time() - t); count[0] += 1
ts = [threading.Thread(target=run) for _ in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print("logins %d (%.0f/s) p50 %.0f ms" % (count[0], count[0] / secs, lat[len(lat)//2] * 1000 if lat else 0))
