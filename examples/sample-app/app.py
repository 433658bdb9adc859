# The sample service from the seed guide (step 1), kept faithful: a Flask app
# whose POST /api/trace_demo asks DashScope's qwen-plus and returns the answer.
#
# Run it under a probe, e.g.  opentelemetry-instrument python app.py
# Local testing: DASHSCOPE_HTTP_BASE_URL=http://127.0.0.1:PORT/api/v1 points
# the DashScope SDK at tests/cluster/llm_standin.py; HOST and PORT override
# the listening address (default 0.0.0.0:8000, as in the seed; tests bind
# 127.0.0.1 and a free port).
import os
import json
import flask
import dashscope

app = flask.Flask(__name__)


def run_query(query):
    """Run the query."""

    response = dashscope.Generation.call(
        api_key=os.getenv('DASHSCOPE_API_KEY'),
        model="qwen-plus",
        messages=[
            {'role': 'system', 'content': 'You are a helpful assistant.'},
            {'role': 'user', 'content': query}
        ],
        result_format='message'
    )
    return response


@app.route('/api/trace_demo', methods=['POST'])
def query():
    """
    Example POST body:
    {
        "query": "capital of china"
    }
    """
    data = flask.request.get_data("utf-8")
    query = json.loads(data).get('query', '')
    response = run_query(query)
    return response.output.choices[0].message.content


if __name__ == '__main__':
    app.run(host=os.getenv('HOST', '0.0.0.0'), port=int(os.getenv('PORT', '8000')))
