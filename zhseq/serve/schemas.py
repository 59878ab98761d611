"""The JSON bodies of the HTTP API: requests (checked strictly: a wrong type or an unknown field is refused) and
responses (for the OpenAPI page at ``/docs``; responses are written without pydantic on the hot path).

Each result has the fields of the matching ``zhseq … --format jsonl`` line: ``text`` and then ``label`` and
``score`` (sentiment), ``predictions`` (predict-next) or ``tokens`` (segment).
"""

from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import PredictConfig, default_of

_STRICT = ConfigDict(strict=True, extra="forbid")
_TEXTS = Field(..., description="The texts, one result each, in this order.", examples=[["这家餐厅的菜很好吃"]])


class SentimentRequest(BaseModel):
    model_config = _STRICT
    texts: List[str] = _TEXTS
    neutral_band: Optional[float] = Field(default_of(PredictConfig, "neutral_band"),
                                          description="Label a text 'neutral' when its positive probability is "
                                                      "within 0.5 ± this (0 ≤ x < 0.5; 0 or null: off).")
    explain: Optional[bool] = Field(False, description="Add each result's 'explanation' (null: false): one "
                                                       "{token, weight} per word, the weight in logit units, "
                                                       "positive for the label (as `zhseq sentiment --explain`); "
                                                       "each explained text costs about one pass per word.")


class PredictNextRequest(BaseModel):
    model_config = _STRICT
    texts: List[str] = Field(..., description="The prefixes, one result each, in this order.",
                             examples=[["今天天气"]])
    k: Optional[int] = Field(None, description=f"Words to propose per prefix (1 to the server's max_k). Default "
                                               f"(absent or null): {default_of(PredictConfig, 'k')}, or the "
                                               f"server's max_k if that is smaller.")
    words_only: Optional[bool] = Field(False, description="Propose words only: no punctuation or symbols "
                                                          "(null: false).")


class SegmentRequest(BaseModel):
    model_config = _STRICT
    texts: List[str] = _TEXTS


class TokenWeight(BaseModel):
    token: str
    weight: float


class SentimentResult(BaseModel):
    text: str
    label: Optional[str] = Field(description="null for a text with nothing the model knows (empty, unknown words)")
    score: Optional[float] = Field(description="the probability of the label; for 'neutral', 1 − |2·p − 1|")
    explanation: Optional[List[TokenWeight]] = Field(None, description="only with explain: true; [] without a label")


class TokenScore(BaseModel):
    token: str
    score: float


class PredictNextResult(BaseModel):
    text: str
    predictions: List[TokenScore]


class SegmentResult(BaseModel):
    text: str
    tokens: List[str]


class SentimentResponse(BaseModel):
    results: List[SentimentResult]


class PredictNextResponse(BaseModel):
    results: List[PredictNextResult]


class SegmentResponse(BaseModel):
    results: List[SegmentResult]


class ErrorBody(BaseModel):
    error: str = Field(description="one line saying what is wrong")


def request_schema(model: type[BaseModel]) -> dict:
    """``openapi_extra`` for a route that reads its body itself: the request body's schema for /docs."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


class BadRequest(Exception):
    """A body that is not what the endpoint takes: ``status`` 400 (not JSON, not UTF-8) or 422 (JSON of the
    wrong shape or type), and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse(model: type[BaseModel], body: bytes):
    """A request body (bytes) → ``model``, or BadRequest naming the first problem."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # an unknown field first (often a misspelt known one, which is then also "missing"): pydantic's own
        # order of the two differs between its versions
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        if error["type"] == "json_invalid":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise BadRequest(400, f"the body is not UTF-8 ({bad.reason} at byte {bad.start})") from None
            reason = error.get("ctx", {}).get("error") or error["msg"]
            raise BadRequest(400, f"the body is not JSON ({reason})") from None
        where = _location(error["loc"])
        message = error["msg"][:1].lower() + error["msg"][1:]
        if error["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise BadRequest(422, f"unknown field {where!r}; known fields: {known}") from None
        if error["type"] == "missing":
            raise BadRequest(422, f"{where} is missing") from None
        raise BadRequest(422, f"{where}: {message}" if where else f"the body: {message}") from None


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
