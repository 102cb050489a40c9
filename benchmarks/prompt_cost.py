"""Figure 6: what each question costs in prompt: system prompt size, model calls, input tokens.

The system prompt is built exactly as the bot builds it (``profile_catalog`` then
``system_prompt``) for the demo catalog and for a made-up 50-table store database. Model calls
per question come from the shipped eval set run through ``bot.core.evaluation`` with a fake model
that writes each question's gold SQL: one ``run_sql`` call carrying the reply's words for
questions about the catalog (every question of the set is a list, a count, an average or a
"¿tienen ...?", which the rows answer), one ``decline`` call (which ends the answer) for the
others. That is the fewest calls the bot's tool loop allows, so the figure is a floor: a real
model that retries a query, or asks for the rows back, spends more. For the questions that ask
for "some" products the fake adds the LIMIT a model would write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import shutil
import sqlite3
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Metric, ensure_catalog, scratch
from benchmarks.tokens import Counter, counter
from bot.catalog.reader import CatalogReader
from bot.core.evaluation import SHIPPED_SET, Question, evaluate, load_questions
from bot.core.llm import TOOLS
from bot.core.prompt import profile_catalog, system_prompt
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCalls

NAME = "prompt_cost"
TITLE = "6. Prompt cost"
GOAL_DEMO_TOKENS = 1500
#: The two-call protocol (run_sql, then a reply written by the model from the rows), measured
#: with this figure on 2026-11-22: the "before" of the one-call answers.
BEFORE_CALLS_PER_ANSWERED = 2.00
BEFORE_INPUT_TOKENS = 2271
GOAL_CALLS_PER_ANSWERED = 1.2
GOAL_INPUT_TOKENS = BEFORE_INPUT_TOKENS * 0.65  # at least 35% fewer

# Fifty tables of a store's back office, for the "large schema" prompt.
TABLES = (
    "products", "categories", "brands", "suppliers", "stores", "warehouses", "stock_levels",
    "stock_moves", "price_lists", "price_history", "promotions", "coupons", "customers",
    "customer_addresses", "loyalty_accounts", "loyalty_moves", "orders", "order_lines",
    "order_status_history", "payments", "refunds", "invoices", "invoice_lines", "credit_notes",
    "shipments", "shipment_lines", "carriers", "delivery_zones", "returns", "return_lines",
    "purchase_orders", "purchase_lines", "receipts", "receipt_lines", "employees", "shifts",
    "cash_registers", "cash_sessions", "reviews", "questions", "wishlists", "carts",
    "cart_lines", "gift_cards", "bundles", "bundle_items", "warranties", "repairs",
    "product_images", "product_attributes",
)
STATUSES = ("activo", "inactivo", "pendiente", "cerrado", "anulado")
REGIONS = ("Lima", "Arequipa", "Cusco", "Trujillo", "Piura", "Chiclayo", "Iquitos")


def build_schema_catalog(path: Path, tables: int = 50, rows: int = 200, seed: int = 7) -> None:
    """A store database with ``tables`` tables of mixed columns, like a real back office."""
    rand = random.Random(seed)
    path.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for number, table in enumerate(TABLES[:tables]):
            parent = TABLES[number - 1] if number else None
            columns = ["id INTEGER PRIMARY KEY", "code TEXT", "status TEXT", "region TEXT",
                       "price REAL", "quantity INTEGER", "created_at TEXT", "notes TEXT"]
            if parent:
                columns.insert(1, f"{parent.rstrip('s')}_id INTEGER")
            conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            values = []
            for row in range(rows):
                record: list[Any] = [row + 1]
                if parent:
                    record.append(rand.randint(1, rows))
                record += [f"{table[:3].upper()}-{rand.randint(10_000, 99_999)}",
                           rand.choice(STATUSES), rand.choice(REGIONS),
                           round(rand.uniform(5, 5_000), 2), rand.randint(0, 500),
                           f"2025-{rand.randint(1, 12):02d}-{rand.randint(1, 28):02d}",
                           f"nota {rand.randint(1, 10**6)}"]
                values.append(record)
            marks = ", ".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        conn.commit()


async def prompt_text(path: Path) -> str:
    reader = await CatalogReader.open(path)
    try:
        profile = await profile_catalog(reader, path.with_suffix(".toml"))
    finally:
        await reader.close()
    return system_prompt(profile)


def gold_player(questions: list[Question], *, words: bool = True) -> Any:
    """A fake model that answers every eval question with its gold SQL (see the module doc).

    ``words=False`` plays the two-call protocol: the query alone, then a reply from the rows.
    """
    by_text: dict[str, Question] = {}
    for question in questions:
        by_text.setdefault(question.question.strip(), question)

    def respond(body: dict[str, Any]) -> Reply | ToolCalls:
        messages = body.get("messages") or []
        asked = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        question = by_text.get(str(asked.get("content", "")).strip())
        if question is None or not question.gold_sql:
            reply = json.dumps({"reply": "Solo puedo ayudarte con los productos de la tienda. "
                                         "Por ejemplo: «¿cuál es la laptop más barata?»"},
                               ensure_ascii=False)
            return ToolCalls([("decline", reply, f"call_decline_{len(messages)}")])
        if messages and messages[-1].get("role") == "tool":
            return Reply("Esto es lo que encontré en el catálogo.")
        sql = question.gold_sql
        if question.sample and " limit " not in sql.lower():
            # "tres celulares": a model asks for that many rows, not the gold's whole set.
            sql += f" LIMIT {5 if question.sample is True else int(question.sample)}"
        arguments = reply_words(sql) if words else {"query": sql}
        return ToolCalls([("run_sql", json.dumps(arguments, ensure_ascii=False),
                           f"call_{question.id}")])

    return respond


def reply_words(sql: str) -> dict[str, str]:
    """The ``run_sql`` arguments a model writes when the rows answer: the query and its words.

    A count or an average (a column named with AS) gets a one-row sentence around its value.
    """
    words = {"query": sql, "intro": "Esto es lo que encontré en el catálogo:",
             "empty_reply": "No encontré productos que coincidan."}
    alias = re.search(r"\)\s+AS\s+(\w+)", sql, re.IGNORECASE)
    if alias:
        words["one_row_reply"] = f"El resultado es {{{alias.group(1)}}}."
    return words


def request_tokens(body: dict[str, Any], tokens: Counter) -> int:
    """Tokens of one chat request's texts: message contents, tool-call arguments, tool schema."""
    total = tokens.count(json.dumps(body.get("tools") or [], ensure_ascii=False))
    for message in body.get("messages") or []:
        total += tokens.count(str(message.get("content") or ""))
        for call in message.get("tool_calls") or []:
            total += tokens.count(call["function"]["arguments"])
    return total


async def eval_with_fake_model(tokens: Counter, *, words: bool = True) -> dict[str, Any]:
    questions = load_questions(SHIPPED_SET).questions
    async with FakeOpenAI() as model:
        model.responder(gold_player(questions, words=words))
        settings = Settings.from_mapping({
            "OPENAI_API_KEY": model.api_key, "OPENAI_BASE_URL": model.base_url,
            "OPENAI_MAX_RETRIES": "0", "LOG_LEVEL": "WARNING"})
        report = await evaluate(settings, SHIPPED_SET, engine="model")
        bodies = model.chat_requests
    summary = report.summary()
    in_scope = [o for o in report.outcomes if o.kind in ("simple", "followup")]
    answered = [o for o in report.outcomes if not o.refused]
    return {
        "questions": len(report.outcomes),
        "model_calls": sum(o.model_calls for o in report.outcomes),
        "calls_per_question": summary["mean_model_calls"],
        "calls_per_answered_question": (sum(o.model_calls for o in answered) / len(answered)
                                        if answered else 0.0),
        "calls_per_catalog_question": (sum(o.model_calls for o in in_scope) / len(in_scope)
                                       if in_scope else 0.0),
        "input_tokens_per_question": sum(request_tokens(b, tokens) for b in bodies)
        / max(1, len(report.outcomes)),
        "execution_accuracy": summary["execution_accuracy"],
        "followup_accuracy": summary["followup_accuracy"],
        "refusal_accuracy": summary["refusal_accuracy"],
        "hostile_safety": summary["hostile_safety"],
        "failed": [f"{o.id}: {o.reason}" for o in report.outcomes if not o.passed],
    }


def run(quick: bool = False) -> Figure:
    figure = Figure(NAME, TITLE)
    tokens = counter()
    label = tokens.name if tokens.exact else f"{tokens.name}, NOT exact"
    figure.details["tokenizer"] = {"encoding": tokens.name, "exact": tokens.exact,
                                   "source": tokens.source}
    demo, _ = ensure_catalog(500)
    demo_prompt = asyncio.run(prompt_text(demo))
    demo_tokens = tokens.count(demo_prompt)
    figure.metrics.append(Metric(
        f"system prompt, demo catalog ({label})", "tokens", [demo_tokens],
        goal=f"< {GOAL_DEMO_TOKENS:,}", met=demo_tokens < GOAL_DEMO_TOKENS))
    folder = scratch("schema")
    try:
        wide = folder / "store-50-tables.db"
        build_schema_catalog(wide)
        wide_prompt = asyncio.run(prompt_text(wide))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figure.metrics.append(Metric(f"system prompt, 50-table catalog ({label})", "tokens",
                                 [tokens.count(wide_prompt)]))
    tool_tokens = tokens.count(json.dumps(TOOLS, ensure_ascii=False))
    figure.details.update({
        "demo_prompt_chars": len(demo_prompt), "wide_prompt_chars": len(wide_prompt),
        "tool_schema_tokens": tool_tokens, "demo_prompt": demo_prompt,
    })
    # The fake model is deterministic, so every run gives the same counts; one run is enough.
    runs = 1
    try:
        results = [asyncio.run(eval_with_fake_model(tokens)) for _ in range(runs)]
        two_calls = asyncio.run(eval_with_fake_model(tokens, words=False))
    except Exception:
        # The eval module is still moving; the prompt sizes above stand on their own.
        figure.status = "partial"
        figure.notes.append("the eval-set part failed: " + traceback.format_exc(limit=3))
        return figure
    first = results[0]
    figure.metrics += [
        Metric("model calls per question, eval set (fake model)", "calls",
               [r["calls_per_question"] for r in results]),
        Metric(f"model calls per answered question (not refused; {BEFORE_CALLS_PER_ANSWERED:.2f}"
               " before)", "calls", [r["calls_per_answered_question"] for r in results],
               goal=f"<= {GOAL_CALLS_PER_ANSWERED}",
               met=first["calls_per_answered_question"] <= GOAL_CALLS_PER_ANSWERED),
        Metric(f"input tokens per question, eval set ({label}; {BEFORE_INPUT_TOKENS:,} before)",
               "tokens", [r["input_tokens_per_question"] for r in results],
               goal=f"<= {GOAL_INPUT_TOKENS:,.0f} (-35%)",
               met=first["input_tokens_per_question"] <= GOAL_INPUT_TOKENS),
        Metric("  same code, the model asking for the rows back (two calls): calls per answered "
               "question", "calls", [two_calls["calls_per_answered_question"]]),
        Metric("  same code, two calls: input tokens per question", "tokens",
               [two_calls["input_tokens_per_question"]]),
        Metric("  one call against two on the same code: input tokens", "%",
               [100 * (first["input_tokens_per_question"]
                       / two_calls["input_tokens_per_question"] - 1)],
               goal="<= -35%", met=first["input_tokens_per_question"]
               <= 0.65 * two_calls["input_tokens_per_question"]),
    ]
    figure.details["eval"] = first
    figure.details["eval_two_calls"] = two_calls
    figure.notes.append(
        f"Tokenizer: {tokens.name} ({tokens.source}). The demo catalog is `kratos seed` "
        "(500 products, seed 42); the 50-table catalog has 8-9 columns and 200 rows per table. "
        f"Eval: {first['questions']} questions of {SHIPPED_SET.name} through bot.core.evaluation "
        "with a fake model playing each question's gold SQL (one run_sql call with the reply's "
        "words, so the bot answers from the rows; a decline call for off-topic and hostile "
        "questions; the two-call rows: the query alone, then a reply from the rows): "
        f"execution accuracy {first['execution_accuracy']:.0%}, follow-ups "
        f"{first['followup_accuracy']:.0%}. Input tokens count the texts the bot sent (message "
        "contents, tool-call arguments, the tool schema as JSON); the API adds a few tokens "
        "per message on top.")
    return figure
