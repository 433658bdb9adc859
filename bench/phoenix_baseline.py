"""Row 6's baseline: arize-phoenix-evals classifying the same inputs as
`traceval evaluate` (correctness and faithfulness per trace, relevance per
document) against the same judge stand-in.

Reads the generated OTLP/JSON lines (one trace per line), pulls out query,
answer and documents with plain dict walks (not timed: Phoenix evals starts
from a dataframe, so its clock starts there), and runs Phoenix's own
CorrectnessEvaluator, FaithfulnessEvaluator and RetrievalRelevanceEvaluator (one
row per document)
through `async_evaluate_dataframe` with the given concurrency. Prints one
JSON line: traces, judge calls, seconds of classification, errors.

    python phoenix_baseline.py --traces F --limit 1000 --judge-url http://127.0.0.1:P/v1 --concurrency 32
"""

import argparse
import asyncio
import json
import re
import sys
import time

DOC = re.compile(r"^retrieval\.documents\.(\d+)\.document\.content$")


def extract(line):
    doc = json.loads(line)
    doc = doc.get("result", doc)
    spans = [s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    query = answer = None
    docs = []
    for span in spans:
        attrs = {a["key"]: a["value"].get("stringValue") for a in span.get("attributes", [])}
        if span["name"] == "query":
            query = attrs.get("input.value")
        if attrs.get("openinference.span.kind") == "LLM":
            answer = attrs.get("output.value")
        if span["name"] == "retrieve":
            found = sorted((int(m.group(1)), v) for k, v in attrs.items() if (m := DOC.match(k)))
            docs = [v for _, v in found]
    return query, answer, docs


async def classify(args, traces):
    import pandas as pd
    from phoenix.evals import LLM, async_evaluate_dataframe
    from phoenix.evals.metrics.correctness import CorrectnessEvaluator
    from phoenix.evals.metrics.retrieval_relevance import RetrievalRelevanceEvaluator
    from phoenix.evals.metrics.faithfulness import FaithfulnessEvaluator

    llm = LLM(
        provider="openai",
        model="judge",
        base_url=args.judge_url,
        api_key="sk-bench",
        initial_per_second_request_rate=args.rate,
    )
    per_trace = pd.DataFrame(
        [{"input": q, "output": a, "context": "\n\n".join(d)} for q, a, d in traces]
    )
    # One row per document, as Phoenix's docs advise for per-document relevance.
    per_doc = pd.DataFrame([{"input": q, "context": doc} for q, _, d in traces for doc in d])
    common = dict(concurrency=args.concurrency, hide_tqdm_bar=True, exit_on_error=False)
    start = time.perf_counter()
    a = await async_evaluate_dataframe(
        dataframe=per_trace,
        evaluators=[CorrectnessEvaluator(llm=llm), FaithfulnessEvaluator(llm=llm)],
        **common,
    )
    b = await async_evaluate_dataframe(
        dataframe=per_doc, evaluators=[RetrievalRelevanceEvaluator(llm=llm)], **common
    )
    seconds = time.perf_counter() - start
    errors = 0
    for frame in (a, b):
        for column in frame.columns:
            if column.endswith("_execution_details"):
                errors += sum(1 for v in frame[column] if "COMPLETED" not in str(v).upper())
    labels = {}
    for frame in (a, b):
        for column in frame.columns:
            if column.endswith("_score"):
                for v in frame[column]:
                    if isinstance(v, str):
                        v = json.loads(v)
                    label = v.get("label") if isinstance(v, dict) else getattr(v, "label", None)
                    labels[str(label)] = labels.get(str(label), 0) + 1
    return seconds, errors, labels, len(per_trace) * 2 + len(per_doc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--traces", required=True)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--judge-url", required=True)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rate", type=float, default=100000.0)
    args = p.parse_args()
    traces = []
    with open(args.traces) as f:
        for line in f:
            if line.strip():
                query, answer, docs = extract(line)
                if query is not None and answer is not None:
                    traces.append((query, answer, docs))
            if len(traces) >= args.limit:
                break
    seconds, errors, labels, calls = asyncio.run(classify(args, traces))
    print(json.dumps({"traces": len(traces), "calls": calls, "seconds": seconds,
                      "errors": errors, "labels": labels}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
