"""The locust scenario the old Python forecasting services were load-tested with: users that POST a
forecast request, back to back, and check the answer. Run headless against tft-server:

  TFT_BODY=build/load/body_1.json locust -f bench/load/locustfile.py --headless -u 64 -r 64 -t 30s \
      --host http://127.0.0.1:PORT --csv build/load/locust_1 --only-summary

FastHttpUser (geventhttpclient) is locust's fastest client; one locust process drives about one core.
"""
import json
import os

from locust import FastHttpUser, task

BODY = open(os.environ.get("TFT_BODY", "build/load/body_1.json"), "rb").read()
N_SERIES = len(json.loads(BODY)["series"])


class ForecastUser(FastHttpUser):
    @task
    def forecast(self):
        with self.client.post("/v1/forecast", data=BODY, headers={"Content-Type": "application/json"},
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            elif r.content.count(b'"id"') < N_SERIES:  # every series answered
                r.failure("missing series in the answer")
