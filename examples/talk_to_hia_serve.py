"""Talk to `hia serve` with the plain openai client; the proxy aligns the answer.

    .venv/bin/hia serve --port 8000 &      # the embedded local models as upstream
    .venv/bin/python examples/talk_to_hia_serve.py http://127.0.0.1:8000/v1
"""

import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/v1", api_key="unused")
reply = client.chat.completions.create(
    model="any",  # the proxy serves its one upstream model
    messages=[{"role": "user", "content": "How do I keep basil alive indoors?"}],
    max_tokens=96,
    extra_body={"goal": "complexity=1,verbosity=1", "budget": 2},
)
print(reply.choices[0].message.content)
print(f"usage over every internal call: {reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion tokens")
