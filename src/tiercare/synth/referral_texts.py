"""Chinese texts of the synthetic referral slips (issue 4 item 7): reasons for referral,
clinical summaries, care plans of down-referrals, discharge notes, answers and follow-up
notes, grouped by condition. Data, not UI: stored on the synthetic rows as a clinician
would write them (rules.md §3: the referral slip holds diagnosis, reason and clinical
summary; a down-referral carries a care plan). Written by the TierCare authors for
synthetic data; they are plausible wording, not clinical advice.

Templates use ``str.format`` fields filled by ``synth.referrals``: ``{name}`` (the
diagnosis' Chinese name), ``{age}``, ``{sex}`` (男/女), ``{sbp}``/``{dbp}`` (mmHg),
``{glu}`` (mmol/L), ``{temp}`` (°C), ``{spo2}`` (%), ``{hr}`` (/min), ``{days}``,
``{months}``, ``{years}``, ``{hours}``, ``{side}`` (左/右), ``{stay}`` (days in hospital).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Texts:
    """The wording of one group of conditions."""

    reasons: tuple[str, ...]  # routine up-referral
    summaries: tuple[str, ...]
    plans: tuple[str, ...]  # care plan of a down-referral
    urgent: tuple[str, ...] = ()  # green-channel reason (empty: the group has none)
    down_weight: float = 0.1  # relative chance of a down-referral after discharge


GROUPS: dict[str, Texts] = {
    "stroke": Texts(
        reasons=("{name}，头颅影像提示新发病灶，需神经内科进一步评估及规范化治疗",
                 "反复头晕伴{side}侧肢体麻木{days}天，疑似{name}，基层无头颅CT/MRI检查条件",
                 "{name}病情进展，{side}侧肢体肌力下降，需住院治疗"),
        urgent=("突发{side}侧肢体无力、言语不清{hours}小时，疑似急性脑卒中，需急查头颅CT并评估溶栓",
                "突发意识障碍伴{side}侧肢体偏瘫，血压{sbp}/{dbp} mmHg，疑似脑出血，"
                "急诊绿色通道转诊"),
        summaries=("患者{sex}，{age}岁，高血压病史{years}年。{days}天前出现{side}侧肢体乏力、"
                   "口角歪斜，"
                   "查体：神志清，言语欠流利，{side}侧肢体肌力4级，血压{sbp}/{dbp} mmHg。",
                   "患者{sex}，{age}岁，既往糖尿病、高血压病史。今日晨起发现{side}侧肢体活动不利，"
                   "血压{sbp}/{dbp} mmHg，心率{hr}次/分，指尖血糖{glu} mmol/L。"),
        plans=("出院诊断{name}，住院{stay}天。继续阿司匹林100 mg 每日一次、"
               "阿托伐他汀20 mg 每晚一次；"
               "血压控制在140/90 mmHg以下；家庭医生每2周随访一次并指导{side}侧肢体康复训练；"
               "如出现新发肢体无力、言语障碍，立即拨打120并经绿色通道转诊。",
               "病情稳定出院。二级预防：抗血小板、调脂、控制血压和血糖；"
               "乡镇卫生院康复科每周康复训练3次，"
               "3个月后回县医院神经内科复诊，复查头颅影像。"),
        down_weight=0.55,
    ),
    "chd": Texts(
        reasons=("反复活动后胸闷、胸痛{months}个月，心电图示ST-T改变，需评估冠脉病变",
                 "{name}规范用药后仍有心绞痛发作，需心内科调整治疗方案",
                 "胸闷伴心悸{days}天，基层心电图提示心肌缺血，需进一步检查"),
        urgent=("持续胸痛{hours}小时不缓解，心电图示ST段抬高，疑似急性心肌梗死，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{name}病史{years}年，长期服用阿司匹林、"
                   "他汀。近{days}天活动后"
                   "胸骨后压榨样疼痛，每次持续5～10分钟，休息后缓解。血压{sbp}/{dbp} mmHg，"
                   "心率{hr}次/分。",
                   "患者{sex}，{age}岁，吸烟史{years}年。胸闷气短{days}天，"
                   "心电图：V1–V4导联ST段压低。"),
        plans=("出院诊断{name}。继续阿司匹林、阿托伐他汀、美托洛尔规律服药；低盐低脂饮食，"
               "戒烟限酒；"
               "家庭医生每月随访血压、心率及胸痛发作情况，3个月复查血脂、肝功能；"
               "胸痛持续超过15分钟不缓解时立即拨打120。",
               "病情稳定出院，已制定长期用药方案。乡镇卫生院每月随访一次，监测血压、心率、心电图；"
               "半年后回县医院心内科复诊。"),
        down_weight=0.4,
    ),
    "heart_failure": Texts(
        reasons=("活动后气促、双下肢水肿加重{days}天，夜间不能平卧，需住院治疗",
                 "{name}反复加重，利尿剂效果欠佳，需调整治疗方案"),
        urgent=("端坐呼吸、咳粉红色泡沫痰，血氧饱和度{spo2}%，疑似急性心力衰竭，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，冠心病、{name}病史{years}年。近{days}天气促加重，"
                   "双下肢凹陷性水肿，"
                   "双肺底湿啰音，心率{hr}次/分，血氧饱和度{spo2}%。",),
        plans=("出院诊断{name}，心功能较入院明显改善。继续利尿剂、ACEI/ARB、β受体阻滞剂；"
               "每日称体重，"
               "3天内体重增加2 kg以上及时就诊；家庭医生每2周随访一次。",),
        down_weight=0.4,
    ),
    "arrhythmia": Texts(
        reasons=("心悸、心律不齐{days}天，心电图示{name}，需评估抗凝及心率控制方案",
                 "{name}心室率控制不佳，需心内科调整用药"),
        summaries=("患者{sex}，{age}岁，阵发性心悸{months}个月，心电图示心房颤动，心室率{hr}次/分，"
                   "血压{sbp}/{dbp} mmHg。",),
        plans=("出院诊断{name}。继续控制心室率及抗凝治疗，定期复查凝血功能；家庭医生每月随访心率、"
               "有无出血表现。",),
        down_weight=0.3,
    ),
    "hypertension": Texts(
        reasons=("血压控制不佳，连续两次随访血压≥{sbp}/{dbp} mmHg，调整用药后仍未达标",
                 "{name}合并靶器官损害可能，需上级医院评估并制定治疗方案",
                 "年轻患者血压明显升高，需排查继发性高血压"),
        urgent=("血压{sbp}/{dbp} mmHg伴剧烈头痛、恶心呕吐，高血压急症，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{name}病史{years}年，"
                   "服用氨氯地平5 mg 每日一次。近两次随访血压"
                   "{sbp}/{dbp} mmHg，伴头晕、乏力，无胸痛。",
                   "患者{sex}，{age}岁，高血压病史{years}年，"
                   "不规律服药。今日测血压{sbp}/{dbp} mmHg，"
                   "心率{hr}次/分，尿常规蛋白（+）。"),
        plans=("出院诊断{name}，血压已控制。继续氨氯地平5 mg、厄贝沙坦150 mg 每日一次；"
               "低盐饮食（每日食盐"
               "<5 g）；家庭医生每月面对面随访测血压，目标<140/90 mmHg；每年一次健康体检。",
               "降压方案已确定：缬沙坦80 mg 每日一次、"
               "氢氯噻嗪12.5 mg 每日一次。纳入基层高血压规范管理，"
               "连续两次随访未达标时再转诊。"),
        down_weight=0.65,
    ),
    "diabetes": Texts(
        reasons=("口服降糖药规范治疗3个月，空腹血糖仍{glu} mmol/L，需调整治疗方案",
                 "{name}血糖波动大，需评估是否启用胰岛素",
                 "{name}伴视物模糊、肢端麻木，需筛查并发症"),
        urgent=("随机血糖{glu} mmol/L伴口渴、多尿、乏力，疑似糖尿病酮症，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{name}病史{years}年，"
                   "服用二甲双胍0.5 g 每日三次。近3个月空腹血糖"
                   "{glu} mmol/L，体重下降。",
                   "患者{sex}，{age}岁，糖尿病病史{years}年，合并高血压。空腹血糖{glu} mmol/L，"
                   "血压{sbp}/{dbp} mmHg。"),
        plans=("出院诊断{name}，血糖已控制。继续二甲双胍0.5 g 每日三次、"
               "甘精胰岛素10单位睡前皮下注射；"
               "家庭医生每月随访空腹血糖，每3个月查糖化血红蛋白；指导低血糖识别与处理。",
               "降糖方案已调整并稳定，转回基层糖尿病规范管理；每年眼底、"
               "尿微量白蛋白及足部检查一次。"),
        down_weight=0.65,
    ),
    "copd": Texts(
        reasons=("咳嗽、咳痰、喘息加重{days}天，活动耐量下降，血氧饱和度{spo2}%",
                 "{name}急性加重，基层抗感染、平喘治疗效果不佳",
                 "慢性咳嗽咳痰多年，需肺功能检查明确诊断"),
        urgent=("喘息加重伴意识淡漠，血氧饱和度{spo2}%，疑似呼吸衰竭，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，吸烟史{years}年，{name}病史多年。近{days}天受凉后咳黄痰、"
                   "气促加重，"
                   "双肺可闻及哮鸣音，血氧饱和度{spo2}%，体温{temp}℃。",),
        plans=("出院诊断{name}，急性加重已控制。继续吸入沙美特罗替卡松每日两次，戒烟；"
               "家庭医生每月随访"
               "症状及用药，指导呼吸功能锻炼；冬春季注意保暖、接种流感疫苗。",),
        down_weight=0.5,
    ),
    "pneumonia": Texts(
        reasons=("发热、咳嗽{days}天，抗感染治疗3天效果不佳，需胸部影像检查",
                 "{name}，体温反复升高，血氧饱和度下降至{spo2}%",
                 "高龄患者{name}，合并基础病，需住院治疗"),
        summaries=("患者{sex}，{age}岁，发热{days}天，最高体温{temp}℃，咳嗽咳痰，"
                   "右下肺可闻及湿啰音，"
                   "血氧饱和度{spo2}%，血常规白细胞升高。",
                   "患儿{sex}，{age}岁，发热、咳嗽{days}天，呼吸稍促，体温{temp}℃，"
                   "肺部可闻及细湿啰音。"),
        plans=("出院诊断{name}，体温正常，症状好转。出院带药口服抗菌药3天；"
               "1周后在乡镇卫生院复查血常规，"
               "必要时复查胸片；如再次发热、气促及时就诊。",),
        down_weight=0.3,
    ),
    "asthma": Texts(
        reasons=("{name}反复发作，吸入药物控制不佳，需肺功能检查及调整阶梯治疗",),
        summaries=("患者{sex}，{age}岁，反复喘息{years}年，近{days}天夜间发作频繁，"
                   "双肺散在哮鸣音。",),
        plans=("出院诊断{name}，已控制。继续吸入布地奈德福莫特罗，随身携带沙丁胺醇气雾剂；"
               "家庭医生每月随访哮喘控制情况。",),
        down_weight=0.3,
    ),
    "respiratory_minor": Texts(
        reasons=("发热、咽痛{days}天，患者要求上级医院进一步检查",
                 "{name}症状持续{days}天未缓解，需排除其他疾病"),
        summaries=("患者{sex}，{age}岁，咽痛、流涕{days}天，体温{temp}℃，咽部充血，"
                   "双肺呼吸音清。",),
        plans=("症状已缓解，回基层随访。",),
    ),
    "appendicitis": Texts(
        reasons=("转移性右下腹痛{hours}小时，麦氏点压痛、反跳痛，疑似{name}，需外科手术",),
        urgent=("剧烈腹痛{hours}小时伴发热{temp}℃，腹膜刺激征阳性，疑似{name}穿孔，"
                "急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，转移性右下腹痛{hours}小时，体温{temp}℃，心率{hr}次/分，"
                   "右下腹压痛、反跳痛，血常规白细胞升高。",
                   "患儿{sex}，{age}岁，腹痛{hours}小时伴呕吐，右下腹压痛明显，体温{temp}℃。"),
        plans=("阑尾切除术后恢复良好出院。伤口每2～3天换药一次，术后7～9天在乡镇卫生院拆线；"
               "清淡饮食，1个月内避免剧烈运动。",),
        down_weight=0.15,
    ),
    "gallstones": Texts(
        reasons=("右上腹痛反复发作{months}个月，B超提示胆囊结石，需外科手术评估",
                 "{name}急性发作，抗感染治疗效果不佳"),
        urgent=("右上腹剧痛伴寒战高热{temp}℃、皮肤黄染，疑似急性胆管炎，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，右上腹隐痛{months}个月，进食油腻后加重，B超：胆囊多发结石，"
                   "胆囊壁增厚。",),
        plans=("腹腔镜胆囊切除术后恢复良好出院。低脂饮食，术后1周在乡镇卫生院复查伤口，"
               "1个月后复查肝功能。",),
        down_weight=0.15,
    ),
    "hernia": Texts(
        reasons=("腹股沟区可复性包块{months}个月，诊断{name}，建议择期手术",),
        urgent=("腹股沟包块不能回纳伴剧烈疼痛{hours}小时，疑似嵌顿疝，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{side}侧腹股沟区包块{months}个月，站立时出现、平卧可回纳。",),
        plans=("疝修补术后恢复良好出院。3个月内避免重体力劳动，保持大便通畅，"
               "1周后在乡镇卫生院复查伤口。",),
        down_weight=0.1,
    ),
    "obstruction": Texts(
        reasons=("腹痛、腹胀伴呕吐{days}天，疑似{name}，需外科进一步处理",),
        urgent=("腹痛、腹胀{hours}小时，停止排气排便，疑似肠梗阻，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，阵发性腹痛{hours}小时，呕吐数次，停止排气排便，腹部膨隆，"
                   "可闻及气过水声，心率{hr}次/分。",),
        plans=("梗阻解除后出院。少食多餐、避免暴饮暴食，保持大便通畅；如再次腹痛、腹胀，"
               "及时就诊。",),
        down_weight=0.1,
    ),
    "abdominal_pain": Texts(
        reasons=("腹痛{days}天，原因不明，需上级医院进一步检查",),
        summaries=("患者{sex}，{age}岁，反复腹痛{days}天，部位不固定，基层对症治疗后无明显缓解。",),
        plans=("病因已明确，症状缓解，回基层随访。",),
    ),
    "stones": Texts(
        reasons=("腰腹部绞痛伴血尿，B超示{name}伴肾积水，需泌尿外科处理",),
        summaries=("患者{sex}，{age}岁，{side}侧腰部绞痛{hours}小时，伴恶心、肉眼血尿，"
                   "B超示结石约0.8 cm，{side}肾轻度积水。",),
        plans=("碎石术后出院。多饮水，每日2000 ml以上；1个月后在乡镇卫生院复查泌尿系B超。",),
        down_weight=0.15,
    ),
    "fracture": Texts(
        reasons=("外伤后肢体疼痛、肿胀、活动受限，X线提示{name}，需骨科处理",),
        urgent=("摔伤后{side}侧肢体畸形、不能活动，疑似{name}，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{hours}小时前不慎摔倒，{side}侧肢体畸形、压痛明显，"
                   "末梢血运尚可，血压{sbp}/{dbp} mmHg。",
                   "患儿{sex}，{age}岁，跌倒后{side}侧腕部肿痛{hours}小时，活动受限。"),
        plans=("术后病情稳定出院。患肢功能锻炼，4周后在乡镇卫生院复查；"
               "康复训练按出院指导进行，家庭医生每2周随访一次。",),
        down_weight=0.3,
    ),
    "head_injury": Texts(
        reasons=("头部外伤后头痛、头晕，需头颅CT检查",),
        urgent=("头部外伤后意识模糊、呕吐{hours}小时，急诊绿色通道转诊",),
        summaries=("患者{sex}，{age}岁，{hours}小时前头部外伤，伤后短暂意识丧失，现头痛、恶心，"
                   "血压{sbp}/{dbp} mmHg。",
                   "患儿{sex}，{age}岁，跌倒致头部外伤{hours}小时，伤后呕吐2次，精神稍差。"),
        plans=("病情稳定出院。注意休息，避免剧烈活动；如出现头痛加重、呕吐、意识改变立即就诊；"
               "家庭医生1周后随访。",),
        down_weight=0.2,
    ),
    "minor_injury": Texts(
        reasons=("外伤后局部疼痛、肿胀{days}天，需影像检查排除骨折",),
        summaries=("患者{sex}，{age}岁，{days}天前外伤，局部肿胀、压痛，活动轻度受限。",),
        plans=("已排除骨折，回基层换药随访。",),
    ),
    "cancer": Texts(
        reasons=("影像检查发现{name}可能，需进一步明确诊断及制定治疗方案",
                 "{name}治疗后，需上级医院评估后续治疗"),
        summaries=("患者{sex}，{age}岁，消瘦、乏力{months}个月，体重下降约5 kg，"
                   "影像检查提示占位性病变。",),
        plans=("住院{stay}天，已完成本阶段治疗。乡镇卫生院负责营养支持、疼痛评估和症状处理，"
               "按期回县医院复查及后续治疗。",),
        down_weight=0.15,
    ),
    "spine": Texts(
        reasons=("腰腿痛{months}个月，保守治疗效果不佳，需MRI检查评估手术指征",
                 "{name}疼痛加重，影响行走，需骨科评估"),
        summaries=("患者{sex}，{age}岁，腰痛伴{side}下肢放射痛{months}个月，直腿抬高试验阳性，"
                   "理疗、口服止痛药效果欠佳。",),
        plans=("出院后继续康复训练，乡镇卫生院每周理疗2～3次；避免久坐、弯腰负重，3个月后复诊。",),
        down_weight=0.3,
    ),
    "joint": Texts(
        reasons=("关节疼痛、活动受限{years}年，需评估是否手术治疗",
                 "{name}疼痛加重，影响行走，需骨科评估"),
        summaries=("患者{sex}，{age}岁，{side}膝关节疼痛{years}年，上下楼梯加重，关节活动受限。",),
        plans=("出院后继续康复训练，乡镇卫生院每周理疗2～3次；控制体重，避免爬山、久蹲。",),
        down_weight=0.3,
    ),
    "cataract": Texts(
        reasons=("视力进行性下降{years}年，诊断{name}，需眼科手术评估",),
        summaries=("患者{sex}，{age}岁，{side}眼视物模糊{years}年，视力0.2，晶状体混浊。",),
        plans=("白内障术后恢复良好。按医嘱滴眼药水，1周、1个月后复查；乡镇卫生院随访视力。",),
        down_weight=0.1,
    ),
    "eye": Texts(
        reasons=("视力下降，需眼科验光及进一步检查", "{name}反复发作，需眼科检查和治疗"),
        summaries=("患者{sex}，{age}岁，视物模糊{months}个月，基层视力筛查异常。",
                   "患儿{sex}，{age}岁，学校视力筛查异常，看远处不清{months}个月。"),
        plans=("已明确诊断并配镜/用药，回基层随访。",),
    ),
    "ent": Texts(
        reasons=("{name}反复发作，需耳鼻喉科检查和治疗",),
        summaries=("患者{sex}，{age}岁，{name}，症状反复{months}个月，基层抗感染治疗后易复发。",
                   "患儿{sex}，{age}岁，{name}反复发作{months}个月，伴发热、咽痛。"),
        plans=("术后/治疗后恢复良好，回基层随访。",),
    ),
    "kidney": Texts(
        reasons=("血肌酐进行性升高，需肾内科评估",
                 "{name}伴水肿、贫血，需调整治疗方案"),
        summaries=("患者{sex}，{age}岁，高血压、糖尿病病史{years}年，近期血肌酐升高，尿蛋白（++），"
                   "血压{sbp}/{dbp} mmHg。",),
        plans=("出院诊断{name}。低盐优质低蛋白饮食，控制血压<130/80 mmHg；家庭医生每月随访血压，"
               "每3个月复查肾功能。",),
        down_weight=0.35,
    ),
    "urology": Texts(
        reasons=("排尿困难、夜尿增多{months}个月，药物治疗效果差，需泌尿外科评估",),
        summaries=("患者男，{age}岁，尿频、尿急、夜尿3～4次{months}个月，B超示前列腺增大。",),
        plans=("继续坦索罗辛0.2 mg 每晚一次；家庭医生每3个月随访排尿情况。",),
        down_weight=0.15,
    ),
    "gyn_tumour": Texts(
        reasons=("B超发现{name}，需妇科进一步诊治",),
        summaries=("患者女，{age}岁，月经量增多{months}个月，B超提示{name}。",),
        plans=("术后恢复良好出院。1个月内禁止盆浴及性生活，1个月后在乡镇卫生院复查。",),
        down_weight=0.1,
    ),
    "gynaecology": Texts(
        reasons=("{name}反复发作，需妇科进一步检查", "孕期检查发现异常，需上级医院产科评估"),
        summaries=("患者女，{age}岁，{name}，症状{days}天，基层治疗效果欠佳。",),
        plans=("治疗后好转，回基层随访。",),
    ),
    "neonatal": Texts(
        reasons=("新生儿皮肤黄染加重{days}天，需进一步检查及光疗评估",),
        summaries=("患儿{sex}，出生{days}天，皮肤、巩膜黄染进行性加重，吃奶尚可。",),
        plans=("光疗后黄疸消退出院。家长观察皮肤黄染及吃奶情况，1周后到乡镇卫生院儿童保健门诊复查。",),
    ),
    "convulsion": Texts(
        reasons=("患儿{name}，需儿科进一步诊治",),
        urgent=("患儿高热{temp}℃伴抽搐，急诊绿色通道转诊",),
        summaries=("患儿{sex}，{age}岁，发热{days}天，体温{temp}℃，今日抽搐1次，持续约2分钟。",),
        plans=("患儿好转出院。家长注意监测体温，及时退热；1周后到乡镇卫生院儿童保健门诊随访。",),
    ),
    "poisoning": Texts(
        reasons=("误服不明药物，需上级医院观察处理",),
        urgent=("误服农药约{hours}小时，恶心呕吐、大汗，急诊绿色通道转诊洗胃救治",),
        summaries=("患者{sex}，{age}岁，{hours}小时前误服农药约50 ml，瞳孔缩小，心率{hr}次/分。",),
        plans=("抢救成功，病情稳定出院。家庭医生1周后随访，注意心理疏导，农药妥善保管。",),
        down_weight=0.2,
    ),
    "gastritis": Texts(
        reasons=("反复上腹痛{months}个月，需胃镜检查明确诊断",
                 "{name}症状反复，需消化内科进一步检查"),
        summaries=("患者{sex}，{age}岁，上腹隐痛、反酸{months}个月，进食后加重，口服抑酸药效果一般。",),
        plans=("出院后继续口服药物治疗4～8周，规律饮食；家庭医生随访症状，必要时复查胃镜。",),
        down_weight=0.1,
    ),
    "diarrhoea": Texts(
        reasons=("腹痛、腹泻{days}天，基层治疗效果不佳", "{name}伴脱水，需住院补液治疗"),
        summaries=("患者{sex}，{age}岁，腹泻每日5～6次{days}天，伴轻度脱水，体温{temp}℃。",
                   "患儿{sex}，{age}岁，呕吐、腹泻{days}天，尿量减少，精神稍差。"),
        plans=("脱水已纠正，症状好转出院。清淡饮食，注意饮食卫生；家庭医生3天后随访。",),
        down_weight=0.1,
    ),
    "hepatitis": Texts(
        reasons=("{name}，肝功能异常，需评估抗病毒治疗",),
        summaries=("患者{sex}，{age}岁，乙肝表面抗原阳性{years}年，近期转氨酶升高。",),
        plans=("抗病毒方案已确定，规律服用恩替卡韦，每3个月在乡镇卫生院复查肝功能。",),
        down_weight=0.2,
    ),
    "general": Texts(
        reasons=("{name}，基层治疗效果欠佳，需上级医院进一步诊治",
                 "{name}诊断不明确，需上级医院专科检查",
                 "{name}症状反复{days}天，患者及家属要求上级医院诊治"),
        summaries=("患者{sex}，{age}岁，{name}，症状持续{days}天，基层对症治疗后改善不明显。",),
        plans=("病情稳定，转回基层继续治疗和随访；如症状加重及时复诊。",),
    ),
}

# ICD-10 code prefix → group (the longest matching prefix wins).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("I60", "stroke"), ("I61", "stroke"), ("I63", "stroke"), ("I69", "stroke"),
    ("I20", "chd"), ("I21", "chd"), ("I25", "chd"), ("I50", "heart_failure"),
    ("I48", "arrhythmia"), ("I10", "hypertension"), ("E11", "diabetes"), ("J44", "copd"),
    ("J18", "pneumonia"), ("J20", "pneumonia"), ("J21", "pneumonia"), ("J45", "asthma"),
    ("J06", "respiratory_minor"), ("J02", "respiratory_minor"), ("R50", "respiratory_minor"),
    ("J35", "ent"), ("H66", "ent"), ("H25", "cataract"), ("H", "eye"),
    ("K35", "appendicitis"), ("K80", "gallstones"), ("K56", "obstruction"),
    ("K40", "hernia"), ("R10", "abdominal_pain"), ("N20", "stones"),
    ("S0", "head_injury"), ("S", "fracture"), ("S60", "minor_injury"), ("T14", "minor_injury"),
    ("T65", "poisoning"), ("C", "cancer"), ("M4", "spine"), ("M5", "spine"), ("M1", "joint"),
    ("N18", "kidney"), ("N40", "urology"), ("D25", "gyn_tumour"), ("N83", "gyn_tumour"),
    ("N76", "gynaecology"), ("Z34", "gynaecology"), ("P", "neonatal"), ("R56", "convulsion"),
    ("A09", "diarrhoea"), ("K52", "diarrhoea"), ("K2", "gastritis"), ("K30", "gastritis"),
    ("B18", "hepatitis"),
)


@functools.cache
def group_of(code: str) -> str:
    """The text group of an ICD-10 code (``general`` when none fits)."""
    best, length = "general", 0
    for prefix, group in PREFIXES:
        if code.startswith(prefix) and len(prefix) > length:
            best, length = group, len(prefix)
    return best


def fits(template: str, age: int, male: bool) -> bool:
    """Whether a template's wording fits a resident of this age and sex (患儿 for children,
    高龄 for the old, 新生儿 for infants, 孕 and 患者女 for women, 患者男 for men)."""
    if ("患儿" in template or "儿童" in template) != (age < 15):
        return False
    if ("新生儿" in template or "出生" in template) and age > 0:
        return False
    if "高龄" in template and age < 65:
        return False
    if "年轻" in template and age >= 45:
        return False
    if ("孕" in template or "患者女" in template) and male:
        return False
    return not ("患者男" in template and not male)


REJECT_CATALOGUE = ("经审核，该病种属基层首诊范围（分级诊疗目录），建议在本级医疗机构规范治疗，"
                    "病情变化时再转诊。")
REJECT_REASONS: tuple[str, ...] = (
    "转诊资料不全，请补充近期血常规及影像检查结果后重新提交。",
    "患者目前病情稳定，暂无上转指征，建议基层继续治疗并随访。",
    "本科室近期床位已满，建议择期转诊或联系医共体内其他医院。",
    "患者已在其他医院就诊，本次转诊不予接收。",
)
NO_BED = "本科室床位已满，暂不能接收，请联系医共体内其他医院。"
NO_SLOT = "近期号源已满，请患者择期重新预约。"
CANCEL_BEFORE: tuple[str, ...] = (
    "患者症状缓解，暂不转诊。",
    "患者及家属要求自行前往市级医院就诊。",
    "患者因家庭原因暂不能前往，另行安排。",
    "转诊单信息填写有误，已重新开具。",
)
CANCEL_AFTER_RECEIVER = "患者未按预约时间就诊，电话联系无果，取消预约。"
CANCEL_AFTER_SENDER = "患者改变就诊计划，取消预约。"
REDIRECT: dict[str, tuple[str, ...]] = {
    "maternal_child": ("患者为孕产妇/儿童，转县妇幼保健院专科诊治。",),
    "tcm_hospital": ("本科室床位紧张，经协商转县中医院接收。",
                     "患者要求中西医结合治疗，转县中医院。"),
    "general_hospital": ("本院该专科力量不足，转县人民医院进一步诊治。",),
}
CLINIC_DONE: tuple[str, ...] = (
    "门诊诊治完毕，已明确诊断并制定治疗方案，回基层随访。",
    "完善检查后调整治疗方案，嘱1个月后复诊。",
    "专科门诊就诊，病情稳定，继续基层管理。",
)
ADMISSION_DONE = "住院{stay}天，{name}好转出院。"
ADMISSION_UNCHANGED = "住院{stay}天，病情无明显好转，患者要求出院。"
ADMISSION_DIED = "经积极抢救无效死亡。"
DOWN_REASONS: tuple[str, ...] = (
    "病情稳定，治疗方案已确定，转回基层继续治疗和随访。",
    "急性期已过，转乡镇卫生院康复治疗。",
    "符合下转标准，转回家庭医生团队管理。",
)
DOWN_DONE: tuple[str, ...] = (
    "已接诊，纳入家庭医生签约随访管理。",
    "已接诊并建立随访计划，按出院医嘱用药。",
    "已接诊，安排康复训练及定期随访。",
)
FOLLOW_UP_NOTES: tuple[str, ...] = (
    "电话随访：患者已在上级医院就诊，病情好转。",
    "入户随访：患者已出院，按医嘱服药，无不适。",
    "电话随访：患者仍在上级医院治疗，家属知情。",
    "门诊随访：已了解上级医院诊疗情况，继续基层管理。",
)
FOLLOW_UP_UNSUCCESSFUL: tuple[str, ...] = (
    "电话随访：转诊未成，患者症状已缓解，继续基层治疗。",
    "电话随访：患者已自行到上级医院就诊。",
    "门诊随访：调整用药后症状改善。",
)
