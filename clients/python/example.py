"""Score a few jobs from a pandas DataFrame.

    python clients/python/example.py --location grpc://127.0.0.1:8815
"""

import argparse

import pandas as pd

import rtp_client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--location", default="grpc://127.0.0.1:8815")
    args = parser.parse_args()
    jobs = pd.DataFrame(
        {
            "job_id": ["1001", "1002", "1003"],
            "user": ["user0001", "user0002", "someone_new"],
            "account": ["acct01", "acct02", "acct03"],
            "partition": ["short", "standard", "gpu"],
            "qos": ["normal", "normal", "high"],
            "submit_time": pd.to_datetime(["2026-11-28 09:00", "2026-11-28 09:05", "2026-11-28 09:07"]),
            "wallclock_req_s": [3600.0, 172800.0, 14400.0],
            "nodes_req": [1, 4, 1],
            "processors_req": [36, 144, 36],
            "gpus_req": [0, 0, 2],
            "mem_req_mb": [None, 400000.0, 90000.0],
        }
    )
    client = rtp_client.connect(args.location)
    print("model", rtp_client.model_info(client)["version"])
    print(rtp_client.score(client, jobs).to_string(index=False))


if __name__ == "__main__":
    main()
