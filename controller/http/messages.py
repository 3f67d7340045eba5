"""Every refusal in Chinese, from one table: engine reasons, API and hub error codes.

Staff and citizens read ``message``; machines keep the English ``code`` (and ``detail``). A
sentence names the window, ticket or user when the refusal's facts carry them (``Rejected``'s
facts, the command's fields), and falls back to a plain sentence when they don't. A test checks
the table against ``RejectReason`` and every code the sources raise."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from controller.core import commands as cmd
from controller.core.lifecycle import RejectReason

R = RejectReason


@dataclass(frozen=True, slots=True)
class Message:
    """``full`` when every field it names is known, else ``plain``."""

    full: str
    plain: str = ""

    def fields(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.full) if name}


M = Message

REJECTIONS: Final[dict[RejectReason, Message]] = {
    R.UNKNOWN_SERVICE: M("没有业务“{service}”", "没有这项业务"),
    R.UNKNOWN_WINDOW: M("没有{window}号窗口", "没有这个窗口"),
    R.UNKNOWN_STAFF: M("没有工号为 {staff} 的工作人员", "没有这个工号"),
    R.UNKNOWN_TICKET: M("没有号票 {number}", "找不到这张号票"),
    R.WINDOW_LOGGED_OUT: M("{window}号窗口尚未登录，请先开窗", "窗口尚未登录，请先开窗"),
    R.WINDOW_ALREADY_LOGGED_IN: M("{window}号窗口已由工号 {holder} 登录", "该窗口已有人登录"),
    R.STAFF_AT_OTHER_WINDOW: M(
        "工号 {staff} 已在{other_window}号窗口登录，请先在该窗口签退",
        "该工作人员已在其他窗口登录，请先在该窗口签退",
    ),
    R.WINDOW_BUSY: M("{window}号窗口{state}，不能{op}", "窗口正忙，不能进行此操作"),
    R.WINDOW_PAUSED: M("{window}号窗口已暂停服务，请先恢复", "窗口已暂停服务，请先恢复"),
    R.WINDOW_NOT_PAUSED: M("{window}号窗口没有暂停，无需恢复", "窗口没有暂停，无需恢复"),
    R.NO_TICKET_AT_WINDOW: M("{window}号窗口当前没有呼叫的号票", "窗口当前没有呼叫的号票"),
    R.QUEUE_EMPTY: M("{window}号窗口可办的业务暂无人等候", "暂无人等候"),
    R.RECALL_LIMIT: M("{number} 已重呼 {count} 次，达到上限", "重呼次数已达上限"),
    R.TICKET_NOT_WAITING: M("{number} 当前为“{state}”，不在等候中", "该号票不在等候中"),
    R.TICKET_NOT_SUSPENDED: M("{number} 当前为“{state}”，没有挂起", "该号票没有挂起"),
    R.TICKET_AT_OTHER_WINDOW: M("{number} 属于{other_window}号窗口", "该号票属于其他窗口"),
    R.TICKET_CLOSED: M("该号票已在之前的营业日结束"),
    R.ILLEGAL_TRANSITION: M("当前状态下不能进行此操作"),
    R.GREEN_CHANNEL_NOT_ALLOWED: M("业务“{service}”不设绿色通道", "该业务不设绿色通道"),
    R.NUMBERS_EXHAUSTED: M("业务“{service}”今日号码已取完", "今日号码已取完"),
    R.APPOINTMENT_ALREADY_CHECKED_IN: M("该预约已签到取号"),
    R.BAD_APPOINTMENT_SLOT: M("预约时段无效"),
    R.UNKNOWN_APPOINTMENT: M("找不到该预约"),
    R.APPOINTMENT_FOR_OTHER_SERVICE: M("该预约属于其他业务"),
    R.TRANSFER_TARGET_INVALID: M("转移目标无效：请选择另一项业务或另一个窗口"),
    R.CONFLICT_OF_INTEREST: M("不能处理与本人相关的差评案件（被评价人或申诉提出人须回避）"),
    R.NO_CONTACT: M("该案件的评价人未留联系方式"),
    R.APPOINTMENT_TOO_EARLY: M("{problem}", "还没到预约的签到时间，请稍后再来"),
    R.APPOINTMENT_TOO_LATE: M("{problem}", "已过预约时段，请取普通号或重新预约"),
    R.BOOKING_CLOSED: M("{problem}", "该业务暂不接受线上预约"),
    R.SLOT_NOT_OFFERED: M("{problem}", "该时段不开放预约，请选择其他时段"),
    R.BOOKING_CUTOFF: M("{problem}", "该时段已截止预约，请选择其他时段"),
    R.SLOT_FULL: M("{problem}", "该时段已约满，请选择其他时段"),
    R.BOOKING_LIMIT_REACHED: M("{problem}", "同一手机号当天已预约该业务"),
    R.BOOKING_BLOCKED: M("{problem}", "因多次预约未到（爽约），暂停线上预约"),
    R.BOOKING_CODE_TAKEN: M("预约码重复，请重试"),
    R.NOT_FINISHED: M("该次服务尚未办结，不能评价"),
    R.ALREADY_EVALUATED: M("该次服务已评价"),
    R.EVALUATION_CLOSED: M("评价时限已过"),
    R.REPLAYED_COUNTER: M("评价器计数重复（疑似重放），评价未记录，请联系管理员"),
    R.BAD_SERVICE_LIST: M("窗口业务设置无效：至少选一项业务，不能重复，权重不小于 1"),
    R.BAD_LEVEL: M("评价等级无效"),
    R.UNKNOWN_REASON: M("差评原因无效或重复"),
    R.BAD_RATING_TEXT: M("评价内容过长"),
    R.BAD_FOLLOW_UP_TOKEN: M("追评链接无效"),
    R.FOLLOW_UP_USED: M("该次服务已追评"),
    R.BAD_CASE_NUMBER: M("案件编号无效：1 至 50 个字母、数字或符号，不含空格"),
    R.UNKNOWN_CASE: M("没有案件 #{case}", "找不到该案件"),
    R.CASE_STEP_NOT_ALLOWED: M("案件 #{case} 当前不能进行这一步", "案件当前不能进行这一步"),
    R.BAD_CASE_STEP: M("请填写经办人和说明（说明不超过 2000 字）"),
    R.DAY_ALREADY_CLOSED: M("该营业日已结算"),
    R.PAUSE_ALREADY_REQUESTED: M(
        "{window}号窗口已设为办完当前号后暂停", "该窗口已设为办完当前号后暂停"
    ),
    R.BAD_PAUSE_REASON: M("暂停原因最多 40 个字"),
}

# Codes the HTTP API, the access layer and the device hub answer with (not engine reasons).
CODES: Final[dict[str, Message]] = {
    "unknown_hall": M("没有大厅“{hall}”", "没有这个大厅"),
    "hall_unavailable": M("大厅暂时不可用：{problem}", "大厅暂时不可用，请稍后再试"),
    "bad_command": M("{problem}", "命令格式有误"),
    "bad_request": M("{problem}", "请求有误，请检查填写的内容"),
    "too_large": M("{problem}", "请求内容过大"),
    "unsupported_media_type": M("{problem}", "请求内容须为 JSON"),
    "bad_idempotency_key": M("幂等键格式无效"),
    "idempotency_key_reused": M("该幂等键已用于另一个请求"),
    "idempotency_key_in_use": M("相同的请求正在处理，请稍候"),
    "not_logged_in": M("请先登录"),
    "bad_csrf": M("页面已过期，请刷新后重试"),
    "forbidden": M("当前账号无权进行此操作"),
    "self_lockout": M("不能停用或降级自己的账号，请请其他管理员操作"),
    "unknown_step": M("没有这个案件步骤"),
    "unknown_chart": M("没有这个图表"),
    "unknown_case": M("没有案件 #{case}", "找不到该案件"),
    "unknown_window": M("没有{window}号窗口", "没有这个窗口"),
    "no_devices": M("本大厅没有联网的显示屏或取号机"),
    "voice_unavailable": M("语音播报暂不可用"),
    "bad_user_name": M("用户名须为 1 至 64 个字母、数字或 _ . @ -"),
    "user_exists": M("用户“{user}”已存在", "该用户已存在"),
    "unknown_user": M("没有用户“{user}”", "没有这个用户"),
    "weak_password": M("密码强度不够：至少 8 位，不要用常见密码"),
    "password_mismatch": M("两次输入的密码不一致"),
    "no_terminal": M("需要在终端中输入密码"),
    "bad_credentials": M("用户名或密码错误"),
    "login_throttled": M("失败次数过多，请一分钟后再试"),
    "unknown_token": M("没有这个令牌"),
    "bad_duties": M("职责设置有误：部门为部门编号（或 *），工号为 1 至 32 位字母、数字或 _ . -"),
    "bad_scope": M("令牌范围有误：只能是评价来源 PC、移动端、电话或短信"),
    "call_failed": M("代拨电话失败：电话平台没有应答，请稍后再试"),
    "call_not_configured": M("本大厅未配置代拨电话平台"),
    "contact_unreadable": M("无法解密该案件的联系方式，请联系管理员核对密钥"),
    "no_phone": M("该案件的联系方式中没有电话号码"),
    "no_photo": M("该工作人员没有可显示的照片"),
    "bad_booking": M("{problem}", "预约信息有误，请检查填写的内容"),
    "rate_limited": M("{problem}", "操作过于频繁，请稍后再试"),
    "store_unavailable": M("{problem}", "系统存储暂时无法写入，请稍后再试"),
    "printer_unavailable": M("取号机打印机缺纸或卡纸"),
    "not_a_kiosk": M("{kiosk} 不是本大厅的联网取号机", "不是本大厅的联网取号机"),
    "device_offline": M("设备 {kiosk} 离线", "设备离线"),
    "bad_signature": M("评价签名无效，评价未记录，请联系管理员"),  # the hub's pad checks
    "unsigned_rating": M("评价器未签名，评价未记录，请联系管理员"),
    "not_reprintable": M("{number} 不在等候或呼叫中，不能重打", "该号票不在等候或呼叫中，不能重打"),
}

# Facts in Chinese: states and operations as people name them.
STATES: Final[dict[str, str]] = {
    "logged_out": "未登录",
    "idle": "空闲",
    "calling": "正在呼叫",
    "serving": "正在办理业务",
    "paused": "已暂停",
    "waiting": "等候",
    "called": "已呼叫",
    "suspended": "挂起",
    "done": "办结",
    "no_show": "过号",
    "cancelled": "取消",
    "expired": "过期",
}
OPERATIONS: Final[dict[str, str]] = {
    "login": "开窗",
    "logout": "签退",
    "call_next": "呼叫下一位",
    "call_number": "指定呼叫",
    "recall": "重呼",
    "start": "开始办理",
    "finish": "办结",
    "no_show": "过号",
    "suspend": "挂起",
    "call_back": "回呼",
    "transfer": "转移",
    "pause": "直接暂停（可选“办完当前号后暂停”）",
    "resume": "恢复",
}


def text(code: str, facts: Mapping[str, object] | None = None) -> str:
    """The Chinese sentence for ``code`` (a ``RejectReason`` value or an API/hub code)."""
    entry = _BY_CODE.get(code)
    if entry is None:  # a code without a sentence: the completeness test forbids it
        return "操作未能完成"
    known = {k: _fact(k, v) for k, v in (facts or {}).items() if v not in (None, "")}
    if entry.fields() <= known.keys():
        return entry.full.format_map(known)
    return entry.plain or entry.full


def command_facts(command: cmd.AnyCommand) -> dict[str, object]:
    """What a command names (window, number, staff, service, case, operation)."""
    fields = msgspec.structs.asdict(command)
    facts: dict[str, object] = {"op": type(command).__struct_config__.tag}
    for name in ("window", "number", "staff", "case", "service"):
        if name in fields:
            facts[name] = fields[name]
    if fields.get("to_service") is not None:
        facts.setdefault("service", fields["to_service"])
    return facts


def _fact(name: str, value: object) -> str:
    if name == "state":
        return STATES.get(str(value), str(value))
    if name == "op":
        return OPERATIONS.get(str(value), "进行此操作")
    return str(value)


_BY_CODE: Final[dict[str, Message]] = {r.value: m for r, m in REJECTIONS.items()} | CODES
