#!/usr/bin/env python3
"""Sends an image through a Hanzo Node with the official, unmodified
`openai` and `anthropic` Python packages: OpenAI chat (`image_url` with a
data URL), the Responses API (`input_image`) and Anthropic Messages (a
base64 `image` block), each to every vision alias given; and checks that a
text-only alias refuses an image with `unsupported_content`.

    python check_images.py BASE_URL --vision ALIAS [--vision ALIAS ...] --text-only ALIAS

Each vision alias must answer "echo: <last user text>" (the mock upstreams
of the end-to-end tests do); the test then checks that each upstream got
the image in its own wire format. Exits 0 when every check passes, 1 with a
message naming the failed check otherwise, 2 when a package is missing.
"""

import argparse
import sys

try:
    import anthropic
    import openai
except ImportError as e:
    print(f"FAIL: {e.name} is not installed (pip install openai anthropic)", file=sys.stderr)
    sys.exit(2)

from checks import BYPASS, CheckFailed, check, expect_equal, run_checks  # noqa: E402

# A 1x1 red PNG.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
QUESTION = "What colour is this pixel?"


def check_openai_chat(client, model):
    r = client.chat.completions.create(
        model=model,
        extra_headers=BYPASS,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": QUESTION},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ]}],
    )
    expect_equal(r.choices[0].message.content, f"echo: {QUESTION}", f"openai chat on {model}")


def check_responses(client, model):
    r = client.responses.create(
        model=model,
        extra_headers=BYPASS,
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": QUESTION},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
        ]}],
    )
    expect_equal(r.output_text, f"echo: {QUESTION}", f"responses on {model}")


def check_anthropic(client, model):
    r = client.messages.create(
        model=model,
        max_tokens=64,
        extra_headers=BYPASS,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "text", "text": QUESTION},
        ]}],
    )
    expect_equal(r.content[0].text, f"echo: {QUESTION}", f"anthropic messages on {model}")


def check_refused(client, model):
    try:
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": QUESTION},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ]}],
        )
    except openai.BadRequestError as e:
        body = e.body if isinstance(e.body, dict) else {}
        check("vision" in str(body.get("message", "")), f"text-only refusal names vision: {body!r}")
    else:
        raise CheckFailed(f"an image to the text-only {model} was not refused")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--vision", action="append", required=True)
    parser.add_argument("--text-only", required=True)
    parser.add_argument("--api-key", default="hanzo-test-key")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    oai = openai.OpenAI(base_url=f"{base}/v1", api_key=args.api_key, max_retries=0, timeout=60)
    ant = anthropic.Anthropic(base_url=base, api_key=args.api_key, max_retries=0, timeout=60)
    checks = []
    for model in args.vision:
        checks += [
            (f"openai chat image on {model}", lambda m=model: check_openai_chat(oai, m)),
            (f"responses image on {model}", lambda m=model: check_responses(oai, m)),
            (f"anthropic image on {model}", lambda m=model: check_anthropic(ant, m)),
        ]
    checks.append((f"refused on {args.text_only}", lambda: check_refused(oai, args.text_only)))
    return run_checks(checks, (openai.APIError, anthropic.APIError), "all image checks passed")


if __name__ == "__main__":
    sys.exit(main())
