"""Static material for the demo district (Beijing Xicheng, 西城区)."""

from __future__ import annotations

# (agency_code, agency_name, [(department_code, department_name), ...])
AGENCIES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("TAX", "区税务局", [("T01", "征收管理科"), ("T02", "税源管理科"), ("T03", "稽查局"), ("T04", "纳税服务科")]),
    (
        "SAMR",
        "区市场监督管理局",
        [("M01", "登记注册科"), ("M02", "信用监管科"), ("M03", "执法稽查科"), ("M04", "消费者权益保护科")],
    ),
    (
        "FDA",
        "区食品药品监督管理局",
        [("F01", "餐饮服务监管科"), ("F02", "食品流通监管科"), ("F03", "药品医疗器械监管科")],
    ),
    (
        "HRSS",
        "区人力资源和社会保障局",
        [("H01", "劳动保障监察大队"), ("H02", "社会保险基金监督科"), ("H03", "劳动关系科")],
    ),
    (
        "HOUSING",
        "区住房和城市建设委员会",
        [("J01", "房地产市场管理科"), ("J02", "建筑业管理科"), ("J03", "物业管理科")],
    ),
    ("EPB", "区环境保护局", [("E01", "环境监察支队"), ("E02", "污染防治科"), ("E03", "环评审批科")]),
    ("SAFETY", "区安全生产监督管理局", [("S01", "安全生产执法队"), ("S02", "危险化学品监管科"), ("S03", "职业健康科")]),
    ("CITYMGMT", "区城市管理委员会", [("C01", "市容环境科"), ("C02", "城管执法监察队"), ("C03", "燃气供热管理科")]),
    ("HEALTH", "区卫生和计划生育委员会", [("W01", "卫生监督所"), ("W02", "医政科"), ("W03", "公共卫生科")]),
    ("COMMERCE", "区商务委员会", [("B01", "市场秩序科"), ("B02", "商贸服务科"), ("B03", "对外贸易科")]),
    ("CULTURE", "区文化委员会", [("K01", "文化市场执法队"), ("K02", "文化产业科"), ("K03", "新闻出版科")]),
    ("FIRE", "区公安消防支队", [("X01", "防火监督处"), ("X02", "火灾调查科"), ("X03", "建审验收科")]),
]

# The fifteen streets (街道) of Xicheng.
STREETS = [
    "西长安街街道",
    "新街口街道",
    "月坛街道",
    "展览路街道",
    "德胜街道",
    "金融街街道",
    "椿树街道",
    "陶然亭街道",
    "广安门内街道",
    "牛街街道",
    "白纸坊街道",
    "广安门外街道",
    "天桥街道",
    "什刹海街道",
    "大栅栏街道",
]

# GB/T 4754-2017 classes common in a central urban district: (code, short name used in entity names).
INDUSTRIES = [
    ("5211", "百货"),
    ("5212", "超市"),
    ("5221", "粮油食品"),
    ("5225", "酒水饮料"),
    ("5251", "药店"),
    ("5261", "家用电器"),
    ("5271", "五金"),
    ("6110", "酒店"),
    ("6210", "餐饮"),
    ("6220", "快餐"),
    ("6241", "茶馆"),
    ("6291", "小吃"),
    ("6510", "软件"),
    ("6531", "信息技术"),
    ("7010", "房地产开发"),
    ("7020", "物业管理"),
    ("7040", "房地产中介"),
    ("7221", "咨询"),
    ("7251", "广告"),
    ("7291", "旅行社"),
    ("8010", "家政服务"),
    ("8051", "洗染"),
    ("8052", "理发美容"),
    ("8053", "洗浴"),
    ("8421", "诊所"),
    ("8710", "新闻出版"),
    ("8870", "文化艺术"),
    ("8912", "健身"),
    ("4813", "建筑装饰"),
    ("5411", "货运"),
]

NAME_WORDS = [
    "华",
    "京",
    "鑫",
    "瑞",
    "盛",
    "德",
    "恒",
    "安",
    "泰",
    "隆",
    "兴",
    "源",
    "嘉",
    "和",
    "信",
    "达",
    "宏",
    "丰",
    "利",
    "祥",
    "金",
    "宝",
    "福",
    "康",
    "明",
    "正",
    "东",
    "方",
    "中",
    "天",
    "新",
    "博",
    "优",
    "汇",
    "聚",
    "顺",
    "佳",
    "荣",
    "永",
    "广",
]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN_NAMES = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "建国",
    "建华",
    "志强",
    "海燕",
    "桂英",
    "玉兰",
    "国强",
    "晓东",
    "红梅",
    "立新",
    "文静",
    "春生",
    "永红",
]

# 归集内容: the categories of collected information.
CATEGORIES = {
    "risk": ["投诉举报", "许可备案异常", "日常检查发现问题", "风险监测", "不良信用记录", "欠缴税费", "拖欠工资"],
    "penalty": ["警告", "罚款", "没收违法所得", "责令停产停业", "暂扣吊销许可证"],
}

DESCRIPTIONS = {
    "投诉举报": "接到群众投诉，反映{name}存在经营不规范问题，已转相关科室核查。",
    "许可备案异常": "{name}许可证即将到期未申请延续，备案信息与实际经营情况不一致。",
    "日常检查发现问题": "日常检查中发现{name}台账记录不完整，已责令限期整改。",
    "风险监测": "风险监测显示{name}相关指标异常，列入重点关注。",
    "不良信用记录": "{name}存在未按期公示年度报告等不良信用记录。",
    "欠缴税费": "{name}存在欠缴税费情况，已下达催缴通知。",
    "拖欠工资": "劳动者举报{name}拖欠工资，劳动保障监察大队已立案调查。",
    "警告": "对{name}违法行为依法给予警告处罚。",
    "罚款": "对{name}违法行为依法处以罚款。",
    "没收违法所得": "依法没收{name}违法所得。",
    "责令停产停业": "依法责令{name}停产停业整顿。",
    "暂扣吊销许可证": "依法暂扣{name}相关许可证件。",
}

# Risk categories only one agency records: the others draw from the remaining risk categories.
AGENCY_ONLY_CATEGORIES = {"欠缴税费": "TAX", "拖欠工资": "HRSS"}

# A few real roads of each street, for addresses (北京市西城区<road><number>号).
STREET_ROADS = {
    "西长安街街道": ["府右街", "西长安街", "南长街", "北新华街"],
    "新街口街道": ["新街口南大街", "西直门内大街", "赵登禹路"],
    "月坛街道": ["月坛北街", "三里河路", "南礼士路"],
    "展览路街道": ["展览馆路", "车公庄大街", "百万庄大街"],
    "德胜街道": ["德胜门外大街", "黄寺大街", "六铺炕街"],
    "金融街街道": ["金融大街", "武定侯街", "太平桥大街", "丰盛胡同"],
    "椿树街道": ["琉璃厂西街", "椿树胡同", "宣武门外大街"],
    "陶然亭街道": ["陶然亭路", "黑窑厂街", "太平街"],
    "广安门内街道": ["广安门内大街", "长椿街", "报国寺前街"],
    "牛街街道": ["牛街", "南横西街", "教子胡同"],
    "白纸坊街道": ["白纸坊东街", "右安门内大街", "白纸坊西街"],
    "广安门外街道": ["广安门外大街", "红居街", "莲花池东路"],
    "天桥街道": ["天桥南大街", "永安路", "北纬路"],
    "什刹海街道": ["地安门西大街", "鼓楼西大街", "德胜门内大街"],
    "大栅栏街道": ["大栅栏街", "煤市街", "前门西大街"],
}

# Farmer cooperatives registered in a city district trade in produce and farm services.
COOPERATIVE_INDUSTRIES = [("0141", "蔬菜种植"), ("0143", "花卉种植"), ("0151", "果品种植"), ("0512", "农机服务")]
# Individual businesses (个体工商户) are shops, eateries and services, not developers or software houses.
INDIVIDUAL_INDUSTRY_PREFIXES = ("52", "62", "80")

ENTERPRISE_SUFFIXES = ["有限公司", "有限公司", "有限责任公司"]
INDIVIDUAL_SUFFIXES = ["店", "馆", "经营部"]
COOPERATIVE_SUFFIX = "专业合作社"

# Residence regions (GB/T 2260) of legal representatives: Xicheng first, then neighbouring districts.
ID_REGIONS = [("110102", 5), ("110101", 2), ("110105", 2), ("110106", 1), ("110108", 2)]

# The demo accounts, one per role: (username, agency code or "platform", role, display name). Four agencies
# get an admin, a liaison and a supervisor each, so that two agencies' views can be compared side by side.
_AGENCY_NAMES = {code: name for code, name, _ in AGENCIES}
USERS = [
    ("office", "platform", "platform_admin", "联席会办公室"),
    ("auditor", "platform", "auditor", "审计员"),
    *(
        (f"{code.lower()}.{suffix}", code, role, f"{_AGENCY_NAMES[code]}{title}")
        for code in ("TAX", "SAMR", "FDA", "HRSS")
        for suffix, role, title in (
            ("admin", "agency_admin", "管理员"),
            ("liaison", "liaison", "联络员"),
            ("supervisor", "supervisor", "监管人员"),
        )
    ),
    ("samr.coordinator", "SAMR", "coordinator", "区市场监督管理局联合检查协调人"),
]

# Reasons of the corrected demo records (a second version superseding the first).
CORRECTION_REASONS = {"risk_level": "复核后上调风险等级", "occurred_on": "更正发生日期：原录入日期有误"}

# The random inspection item lists (随机抽查事项清单) of the agencies that take part in joint draws.
INSPECTION_ITEMS: list[tuple[str, str, str, str, bool]] = [
    ("SAMR", "SC-01", "企业公示信息检查", "《企业信息公示暂行条例》第十四条", True),
    ("SAMR", "SC-02", "食品经营许可事项检查", "《食品安全法》第一百一十条", True),
    ("SAMR", "SC-03", "广告发布行为检查", "《广告法》第四十九条", True),
    ("TAX", "SW-01", "发票使用情况检查", "《发票管理办法》第三十条", False),
    ("TAX", "SW-02", "纳税申报情况检查", "《税收征收管理法》第五十四条", False),
    ("FDA", "YJ-01", "药品经营质量管理规范检查", "《药品管理法》第九十九条", True),
    ("HRSS", "RS-01", "工资支付情况检查", "《劳动保障监察条例》第十一条", False),
]
# Inspectors (执法检查人员) per agency: (agency, how many, the item codes they are qualified for).
INSPECTOR_POOLS: list[tuple[str, int, str]] = [
    ("SAMR", 8, "SC-01;SC-02;SC-03"),
    ("TAX", 6, "SW-01;SW-02"),
    ("FDA", 5, "YJ-01"),
    ("HRSS", 5, "RS-01"),
]
# A finished joint draw, published with results, and one frozen and waiting for its seed.
DEMO_DRAW_DICE = "20260915183542907716"
DEMO_DRAW_OUTCOMES = ["no_problem", "problems_found", "no_problem", "ordered_to_correct", "not_reachable"]
