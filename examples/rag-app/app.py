"""A small LlamaIndex-style RAG variant of the seed's sample app.

POST /api/rag {"query": "..."}: retrieves documents from a tiny in-memory
corpus inside a RETRIEVER span that follows the OpenInference conventions
LlamaIndex and LangChain instrumentations use (`openinference.span.kind`,
`input.value`, `retrieval.documents.N.document.{id,content,score}`), then asks
DashScope (`qwen-plus`) with the documents as reference text; the DashScope
instrumentation records the LLM span. Run it under the probe:

    opentelemetry-instrument python examples/rag-app/app.py

The corpus is JSON (`RAG_CORPUS` file, else the built-in one): a list of
{"id", "content", "topics": [...]}; a query retrieves, in corpus order, the
documents any of whose topics it mentions (at most `RAG_TOP_K`, default 5).
"""

import json
import os

import dashscope
from flask import Flask, jsonify, request
from opentelemetry import trace

app = Flask(__name__)
tracer = trace.get_tracer("rag-app")

BUILTIN_CORPUS = [
    {"id": "doc-1", "topics": ["tracing"],
     "content": "Tracing records each request's whole path as spans."},
    {"id": "doc-2", "topics": ["tracing", "evaluation"],
     "content": "An evaluation scores answers for correctness and faithfulness."},
    {"id": "doc-3", "topics": ["china"],
     "content": "Beijing is the capital of China."},
]


def load_corpus():
    path = os.getenv("RAG_CORPUS")
    if not path:
        return BUILTIN_CORPUS
    with open(path) as f:
        return json.load(f)


CORPUS = load_corpus()
TOP_K = int(os.getenv("RAG_TOP_K", "5"))


def retrieve(query):
    with tracer.start_as_current_span("retrieve") as span:
        span.set_attribute("openinference.span.kind", "RETRIEVER")
        span.set_attribute("input.value", query)
        lowered = query.lower()
        found = [d for d in CORPUS if any(t in lowered for t in d["topics"])][:TOP_K]
        for i, doc in enumerate(found):
            prefix = "retrieval.documents.%d.document." % i
            span.set_attribute(prefix + "id", doc["id"])
            span.set_attribute(prefix + "content", doc["content"])
            span.set_attribute(prefix + "score", 1.0 - i * 0.1)
        return found


@app.route("/api/rag", methods=["POST"])
def rag():
    query = request.get_json(force=True)["query"]
    docs = retrieve(query)
    reference = "\n".join("- " + d["content"] for d in docs)
    response = dashscope.Generation.call(
        model="qwen-plus",
        messages=[
            {"role": "system", "content": "Answer using only this reference text:\n" + reference},
            {"role": "user", "content": query},
        ],
        result_format="message",
        api_key=os.getenv("DASHSCOPE_API_KEY"),
    )
    if response.status_code != 200:
        return jsonify({"error": response.message}), 502
    return response.output.choices[0].message.content


if __name__ == "__main__":
    app.run(host=os.getenv("HOST", "0.0.0.0"), port=int(os.getenv("PORT", "8000")))
