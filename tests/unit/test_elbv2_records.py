"""ELBv2's typed records: what the API answers (`to_wire`, no bookkeeping), and the stored format,
which is the one earlier versions wrote (wire members plus `_` keys), so old data dirs load as they are."""

from __future__ import annotations

from lambdad.services.elbv2.load_balancers import Listener, LoadBalancer, Rule, TargetGroup

ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000"
# As the dict-based version stored them.
OLD_TG = {"TargetGroupArn": f"{ARN}:targetgroup/tg/1", "TargetGroupName": "tg", "HealthCheckEnabled": False,
          "HealthCheckIntervalSeconds": 35, "HealthCheckTimeoutSeconds": 30, "HealthyThresholdCount": 5,
          "UnhealthyThresholdCount": 2, "HealthCheckPath": "/", "Matcher": {"HttpCode": "200"},
          "LoadBalancerArns": [], "TargetType": "lambda", "IpAddressType": "ipv4", "_account": "000000000000",
          "_targets": ["arn:aws:lambda:us-east-1:000000000000:function:f"],
          "_attributes": {"lambda.multi_value_headers.enabled": "true"}, "_tags": [{"Key": "k", "Value": "v"}]}
OLD_LB = {"LoadBalancerArn": f"{ARN}:loadbalancer/app/lb/1", "DNSName": "lb-1.us-east-1.elb.localhost",
          "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K", "CreatedTime": "2026-01-01T00:00:00.000Z",
          "LoadBalancerName": "lb", "Scheme": "internet-facing", "VpcId": "vpc-lambdad", "State": {"Code": "active"},
          "Type": "application", "AvailabilityZones": [], "SecurityGroups": [], "IpAddressType": "ipv4",
          "_account": "000000000000", "_tags": []}
OLD_LISTENER = {"ListenerArn": f"{ARN}:listener/app/lb/1/2", "LoadBalancerArn": OLD_LB["LoadBalancerArn"],
                "Port": 8080, "Protocol": "HTTP", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "x"}],
                "_account": "000000000000", "_tags": []}
OLD_RULE = {"RuleArn": f"{ARN}:listener-rule/app/lb/1/2/3", "Priority": "5",
            "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a"]}, "Values": ["/a"]}],
            "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}], "IsDefault": False,
            "_listener": OLD_LISTENER["ListenerArn"], "_account": "000000000000", "_tags": []}


def test_old_records_load_and_store_back_unchanged() -> None:
    for cls, old in ((TargetGroup, OLD_TG), (LoadBalancer, OLD_LB), (Listener, OLD_LISTENER), (Rule, OLD_RULE)):
        record = cls.from_record(old)  # type: ignore[attr-defined]
        assert record.to_record() == old, cls


def test_the_wire_shape_has_no_bookkeeping() -> None:
    tg = TargetGroup.from_record(OLD_TG)
    assert tg.targets == OLD_TG["_targets"] and tg.account == "000000000000"
    wire = tg.to_wire([OLD_LB["LoadBalancerArn"]])
    assert not any(key.startswith("_") for key in wire)
    assert wire["LoadBalancerArns"] == [OLD_LB["LoadBalancerArn"]]
    for cls, old in ((LoadBalancer, OLD_LB), (Listener, OLD_LISTENER), (Rule, OLD_RULE)):
        assert cls.from_record(old).to_wire() == {k: v for k, v in old.items() if not k.startswith("_")}  # type: ignore[attr-defined]
