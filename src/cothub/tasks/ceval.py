"""C-Eval and CMMLU: Chinese multiple-choice exams (four options A-D), by subject.

C-Eval: Huang et al. 2023, "C-Eval: A Multi-Level Multi-Discipline Chinese Evaluation Suite for
Foundation Models", NeurIPS 2023 Datasets and Benchmarks (arXiv:2305.08322; ``hkust-nlp/ceval``,
CC-BY-NC-SA-4.0). CMMLU: Li et al. 2024, "CMMLU: Measuring massive multitask language
understanding in Chinese", Findings of ACL 2024 (arXiv:2306.09212; ``haonan-li/CMMLU``,
CC-BY-NC-4.0).

    cothub run ceval --model openai/MODEL
    cothub run cmmlu/chinese_history --model openai/MODEL --format fewshot-direct

Data: the Hugging Face Hub only (non-commercial licences: no copy is shipped or expected).

- C-Eval: ``ceval/ceval-exam``, one config per subject (52), split ``val`` (1,346 items: the
  ``test`` split's answers are hidden), exemplars from split ``dev`` (5 per subject); columns
  ``id``, ``question``, ``A``-``D``, ``answer`` (a letter), ``explanation`` (the dev rationale).
- CMMLU: ``haonan-li/cmmlu``, one config per subject (67), split ``test`` (11,528), exemplars from
  ``dev`` (5 per subject); columns ``Question``, ``A``-``D``, ``Answer`` (a letter).

Decisions:

- Prompts are the authors' (C-Eval ``code/evaluator_series``, CMMLU ``src/mp_utils.py``):
  C-Eval's subject line ``以下是中国关于{科目}考试的单项选择题，请选出其中的正确答案。``;
  CMMLU's ``以下是关于{科目}的单项选择题，请直接给出正确答案的选项。`` (CoT:
  ``请分析并选出正确答案。``); items as ``question\\nA. ..\\nD. ..\\n答案：`` (CMMLU:
  ``题目：...\\n答案是：``), five dev exemplars; C-Eval's CoT exemplars are
  ``让我们一步一步思考，\\n{explanation}\\n所以答案是{X}。``. CMMLU's dev split has no
  rationales, so CMMLU has no few-shot CoT format. Default: ``fewshot-direct``, as both papers'
  headline tables.
- Grading: answer-only, the first option letter of the reply (after an ``答案`` cue if there is
  one); CoT, the letter after the last ``答案是`` / ``答案：`` / ``answer is``, else unparsed.
- Headline: item-weighted accuracy, with the subject mean beside it; ``category`` (C-Eval's STEM /
  Social Science / Humanities / Other) is a breakdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cothub.data.source import DataSource, Rows, load_hub, sha256_text
from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.prompts import (
    FEWSHOT_COT,
    FEWSHOT_DIRECT,
    ZEROSHOT_COT,
    ZEROSHOT_DIRECT,
    Exemplar,
    PromptFormat,
    chat_turns,
    fit,
)
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.tasks.musr import hub_only
from cothub.types import Answer, Grade, Prompt, Sample

LETTERS = "ABCD"

# C-Eval's subject_mapping.json: config -> (Chinese name, category).
CEVAL_SUBJECTS: dict[str, tuple[str, str]] = {
    "computer_network": ("计算机网络", "STEM"),
    "operating_system": ("操作系统", "STEM"),
    "computer_architecture": ("计算机组成", "STEM"),
    "college_programming": ("大学编程", "STEM"),
    "college_physics": ("大学物理", "STEM"),
    "college_chemistry": ("大学化学", "STEM"),
    "advanced_mathematics": ("高等数学", "STEM"),
    "probability_and_statistics": ("概率统计", "STEM"),
    "discrete_mathematics": ("离散数学", "STEM"),
    "electrical_engineer": ("注册电气工程师", "STEM"),
    "metrology_engineer": ("注册计量师", "STEM"),
    "high_school_mathematics": ("高中数学", "STEM"),
    "high_school_physics": ("高中物理", "STEM"),
    "high_school_chemistry": ("高中化学", "STEM"),
    "high_school_biology": ("高中生物", "STEM"),
    "middle_school_mathematics": ("初中数学", "STEM"),
    "middle_school_biology": ("初中生物", "STEM"),
    "middle_school_physics": ("初中物理", "STEM"),
    "middle_school_chemistry": ("初中化学", "STEM"),
    "veterinary_medicine": ("兽医学", "STEM"),
    "college_economics": ("大学经济学", "Social Science"),
    "business_administration": ("工商管理", "Social Science"),
    "marxism": ("马克思主义基本原理", "Social Science"),
    "mao_zedong_thought": ("毛泽东思想和中国特色社会主义理论体系概论", "Social Science"),
    "education_science": ("教育学", "Social Science"),
    "teacher_qualification": ("教师资格", "Social Science"),
    "high_school_politics": ("高中政治", "Social Science"),
    "high_school_geography": ("高中地理", "Social Science"),
    "middle_school_politics": ("初中政治", "Social Science"),
    "middle_school_geography": ("初中地理", "Social Science"),
    "modern_chinese_history": ("近代史纲要", "Humanities"),
    "ideological_and_moral_cultivation": ("思想道德修养与法律基础", "Humanities"),
    "logic": ("逻辑学", "Humanities"),
    "law": ("法学", "Humanities"),
    "chinese_language_and_literature": ("中国语言文学", "Humanities"),
    "art_studies": ("艺术学", "Humanities"),
    "professional_tour_guide": ("导游资格", "Humanities"),
    "legal_professional": ("法律职业资格", "Humanities"),
    "high_school_chinese": ("高中语文", "Humanities"),
    "high_school_history": ("高中历史", "Humanities"),
    "middle_school_history": ("初中历史", "Humanities"),
    "civil_servant": ("公务员", "Other"),
    "sports_science": ("体育学", "Other"),
    "plant_protection": ("植物保护", "Other"),
    "basic_medicine": ("基础医学", "Other"),
    "clinical_medicine": ("临床医学", "Other"),
    "urban_and_rural_planner": ("注册城乡规划师", "Other"),
    "accountant": ("注册会计师", "Other"),
    "fire_engineer": ("注册消防工程师", "Other"),
    "environmental_impact_assessment_engineer": ("环境影响评价工程师", "Other"),
    "tax_accountant": ("税务师", "Other"),
    "physician": ("医师资格", "Other"),
}

# CMMLU's name_en2zh (src/mp_utils.py): config -> Chinese name.
CMMLU_SUBJECTS: dict[str, str] = {
    "agronomy": "农学",
    "anatomy": "解剖学",
    "ancient_chinese": "古汉语",
    "arts": "艺术学",
    "astronomy": "天文学",
    "business_ethics": "商业伦理",
    "chinese_civil_service_exam": "中国公务员考试",
    "chinese_driving_rule": "中国驾驶规则",
    "chinese_food_culture": "中国饮食文化",
    "chinese_foreign_policy": "中国外交政策",
    "chinese_history": "中国历史",
    "chinese_literature": "中国文学",
    "chinese_teacher_qualification": "中国教师资格",
    "clinical_knowledge": "临床知识",
    "college_actuarial_science": "大学精算学",
    "college_education": "大学教育学",
    "college_engineering_hydrology": "大学工程水文学",
    "college_law": "大学法律",
    "college_mathematics": "大学数学",
    "college_medical_statistics": "大学医学统计",
    "college_medicine": "大学医学",
    "computer_science": "计算机科学",
    "computer_security": "计算机安全",
    "conceptual_physics": "概念物理学",
    "construction_project_management": "建设工程管理",
    "economics": "经济学",
    "education": "教育学",
    "electrical_engineering": "电气工程",
    "elementary_chinese": "小学语文",
    "elementary_commonsense": "小学常识",
    "elementary_information_and_technology": "小学信息技术",
    "elementary_mathematics": "初等数学",
    "ethnology": "民族学",
    "food_science": "食品科学",
    "genetics": "遗传学",
    "global_facts": "全球事实",
    "high_school_biology": "高中生物",
    "high_school_chemistry": "高中化学",
    "high_school_geography": "高中地理",
    "high_school_mathematics": "高中数学",
    "high_school_physics": "高中物理学",
    "high_school_politics": "高中政治",
    "human_sexuality": "人类性行为",
    "international_law": "国际法学",
    "journalism": "新闻学",
    "jurisprudence": "法理学",
    "legal_and_moral_basis": "法律与道德基础",
    "logical": "逻辑学",
    "machine_learning": "机器学习",
    "management": "管理学",
    "marketing": "市场营销",
    "marxist_theory": "马克思主义理论",
    "modern_chinese": "现代汉语",
    "nutrition": "营养学",
    "philosophy": "哲学",
    "professional_accounting": "专业会计",
    "professional_law": "专业法学",
    "professional_medicine": "专业医学",
    "professional_psychology": "专业心理学",
    "public_relations": "公共关系",
    "security_study": "安全研究",
    "sociology": "社会学",
    "sports_science": "体育学",
    "traditional_chinese_medicine": "中医中药",
    "virology": "病毒学",
    "world_history": "世界历史",
    "world_religions": "世界宗教",
}

_COT_ANSWER = re.compile(r"(?:答案是|答案为|答案：|答案:|answer is)\s*[:：]?\s*\(?([A-D])\b", re.I)
_CUE = re.compile(r"答案\s*(?:是|为)?\s*[:：]?\s*")
_LETTER = re.compile(r"[A-D]")


def chinese_mc_answer(text: str, cot: bool) -> tuple[str | None, str]:
    """The option letter a reply commits to (see the module docstring)."""
    if cot:
        found = list(_COT_ANSWER.finditer(text))
        return (found[-1].group(1).upper(), "final-phrase") if found else (None, "unparsed")
    cue = _CUE.search(text)
    letter = _LETTER.search(text, cue.end() if cue else 0)
    return (letter.group(0), "first-letter") if letter else (None, "unparsed")


@dataclass(frozen=True, slots=True)
class _Exam:
    """What differs between C-Eval and CMMLU: Hub layout, columns and prompt wording."""

    hub: str
    split: str
    question: str
    answer: str
    head_direct: str
    head_cot: str
    item_prefix: str
    cue_direct: str
    cue_cot: str


_CEVAL = _Exam(
    "ceval/ceval-exam", "val", "question", "answer",
    "以下是中国关于{}考试的单项选择题，请选出其中的正确答案。",
    "以下是中国关于{}考试的单项选择题，请选出其中的正确答案。",
    "", "答案：", "答案：",
)  # fmt: skip
_CMMLU = _Exam(
    "haonan-li/cmmlu", "test", "Question", "Answer",
    "以下是关于{}的单项选择题，请直接给出正确答案的选项。",
    "以下是关于{}的单项选择题，请分析并选出正确答案。",
    "题目：", "答案是：", "逐步分析并选出正确答案：",
)  # fmt: skip


class _ChineseExam(Task):
    """The shared shape of C-Eval and CMMLU; a subclass names the exam and its subjects."""

    exam: _Exam
    chinese: ClassVar[dict[str, str]]
    default_format = FEWSHOT_DIRECT

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 1024 if self.prompt_format(fmt).cot else 16

    def _sample(self, subject: str, i: int, row: dict[str, object]) -> Sample:
        answer = str(row.get(self.exam.answer) or "").strip().upper()
        if len(answer) != 1 or answer not in LETTERS:
            raise CothubError(f"{self.exam.hub}/{subject} row {i}: answer {answer!r} is not A-D")
        choices = tuple(str(row[k]) for k in LETTERS)
        tags = (("category", CEVAL_SUBJECTS[subject][1]),) if self.exam is _CEVAL else ()
        return Sample(
            f"{subject}/{i}", str(row[self.exam.question]), answer, subject, tags, choices
        )

    def _rows(self, subject: str, split: str) -> Rows:
        fields = (self.exam.question, *LETTERS, self.exam.answer)
        try:
            return load_hub(self.exam.hub, subject, split, fields)
        except CothubError as e:
            raise CothubError(hub_only(str(e), self.name)) from e

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for subject in subsets or self.subsets:
            rows = self._rows(subject, self.exam.split)
            provenance[rows.source] = rows.digest
            samples += [self._sample(subject, i, r) for i, r in enumerate(rows.rows)]
        return Loaded(samples, provenance)

    def _item(self, question: str, choices: Sequence[str], cot: bool) -> str:
        options = "".join(f"\n{k}. {c}" for k, c in zip(LETTERS, choices, strict=True))
        cue = self.exam.cue_cot if cot else self.exam.cue_direct
        return f"{self.exam.item_prefix}{question}{options}\n{cue}"

    def _shot(self, row: dict[str, object], cot: bool) -> Exemplar:
        question = self._item(str(row[self.exam.question]), [str(row[k]) for k in LETTERS], cot)
        answer = str(row[self.exam.answer]).strip()
        rationale = f"让我们一步一步思考，\n{row.get('explanation', '')}\n所以答案是{answer}。"
        return Exemplar(question, rationale if cot else "", answer)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        fmt = self.prompt_format(fmt)
        cache: dict[str, list[Exemplar]] = {}

        def shots(subject: str) -> list[Exemplar]:
            if fmt.fewshot and subject not in cache:
                cache[subject] = [self._shot(r, fmt.cot) for r in self._rows(subject, "dev").rows]
            return cache.get(subject, [])

        def render(sample: Sample) -> Prompt:
            name = self.chinese[sample.subset]
            head = (self.exam.head_cot if fmt.cot else self.exam.head_direct).format(name)
            item = self._item(sample.question, sample.choices, fmt.cot)
            pool = shots(sample.subset)
            reply = "{rationale}" if fmt.cot else "{answer}"

            def build(k: int) -> Prompt:
                if options.style == "chat":
                    msgs = chat_turns(pool[:k], item, "{question}", reply, lead=f"{head}\n\n")
                    return Prompt("chat", messages=msgs, n_exemplars=k)
                done = "".join(f"{s.question}{s.format(reply)}\n\n" for s in pool[:k])
                return Prompt("completions", text=f"{head}\n\n{done}{item}", stop=("\n\n",),
                              n_exemplars=k)  # fmt: skip

            return fit(build, len(pool), options.max_prompt_tokens, f"{self.name} {sample.id}")

        wording = f"{self.exam.head_direct}|{self.exam.head_cot}|{self.exam.item_prefix}"
        return Prompter(render, f"hf:{self.exam.hub}/<subject>/dev", sha256_text(wording))

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        if self.prompt_format(fmt).cot:
            return None
        return list(LETTERS)  # the letter follows "答案：" directly, no space

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        body = strip_thinking(text)
        if body is None:
            return Answer(None, None, "unclosed-thinking")
        answer, method = chinese_mc_answer(body, self.prompt_format(fmt).cot)
        return Answer(answer, None, method)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        correct = answer.value is not None and answer.value == sample.gold
        return Grade(correct, answer.value, answer.method, check="choice")


class CEval(_ChineseExam):
    name = "ceval"
    version = "1"
    citation = "Huang et al. 2023, NeurIPS Datasets and Benchmarks, arXiv:2305.08322"
    formats = (FEWSHOT_DIRECT, FEWSHOT_COT, ZEROSHOT_DIRECT, ZEROSHOT_COT)
    subsets = tuple(CEVAL_SUBJECTS)
    breakdowns = ("category",)
    exam = _CEVAL
    chinese: ClassVar[dict[str, str]] = {k: v[0] for k, v in CEVAL_SUBJECTS.items()}


class CMMLU(_ChineseExam):
    name = "cmmlu"
    version = "1"
    citation = "Li et al. 2024, Findings of ACL, arXiv:2306.09212"
    formats = (FEWSHOT_DIRECT, ZEROSHOT_DIRECT, ZEROSHOT_COT)
    subsets = tuple(CMMLU_SUBJECTS)
    exam = _CMMLU
    chinese: ClassVar[dict[str, str]] = CMMLU_SUBJECTS
