"""The commands that describe what this node offers, natively (no release script).

DIRAC asks the release (dirac-wms-get-wn-parameters, dirac-wms-cpu-normalization,
dirac-wms-get-queue-cpu-time, the platform script); here pilot.node.capabilities
and pilot.cpu.db12 answer on every Python from 2.6, and the keys are written into
pilot.cfg with DIRAC's names.
"""

from ..shims import compat
from ..config import params as params_module
from ..node import capabilities, platforminfo
from .configure import DiracCommand


def node_capabilities(command):
    """detect() once per pilot; later commands reuse it."""
    pp = command.pp
    if getattr(pp, "capabilities", None) is None:
        source, _ = pp.sources.get("pilotProcessors", (params_module.DEFAULT, ""))
        requested = pp.pilotProcessors if source == params_module.COMMAND_LINE else None
        queue = pp.queueParameters or {}
        whole_node = "WholeNode" in pp.tags or _true(queue.get("WholeNode"))
        pp.capabilities = capabilities.detect(environ=command.context.environ, work_dir=command.work_dir,
                                              requested_processors=requested,
                                              queue_processors=_int(queue.get("NumberOfProcessors")),
                                              whole_node=whole_node)
    return pp.capabilities


class CheckWNCapabilities(DiracCommand):
    """Processors, memory, GPUs, tags of this slot, into /Resources/Computing/CEDefaults."""

    description = "detect processors, memory, GPUs and tags of this slot; write CEDefaults into pilot.cfg"

    def execute(self):
        caps = node_capabilities(self)
        cpus, memory, gpus = caps["processors"], caps["memory"], caps["gpus"]
        self.pp.pilotProcessors = cpus["count"]
        for tag in caps["tags"]:
            if tag not in self.pp.tags:
                self.pp.tags.append(tag)
        self.log.info("processors: %d (%s; node has %s)" % (cpus["count"], cpus["source"], cpus["total"]))
        self.log.info("memory: %s MB (%s); GPUs: %d (%s)" % (memory["mb"], memory["source"], gpus["count"],
                                                           gpus["source"]))
        container = caps["container"]
        self.log.info("containers: %s; user namespaces: %s" % (
            "%s %s" % (container["name"], container.get("version") or "") if container.get("runs") else "none",
            "enabled" if caps["user_namespaces"]["enabled"] else "disabled"))
        values = capabilities.cfg_values(caps, tags=self.pp.tags, required_tags=self.pp.reqtags,
                                         queue_parameters=self.pp.queueParameters,
                                         max_processors=self.pp.maxNumberOfProcessors)
        self.details["capabilities"] = {"processors": cpus, "memory": memory, "gpus": gpus,
                                        "container": container, "user_namespaces": caps["user_namespaces"],
                                        "tags": list(self.pp.tags)}
        self.write_cfg(dict((key, value) for key, value in values.items()
                            if key.startswith(capabilities.CEDEFAULTS)))


class ConfigureCPURequirements(DiracCommand):
    """CPU power (DB12) and the CPU time of the slot, into /LocalSite."""

    description = "measure the CPU power (DB12, --db12) and the slot's CPU time; write them into pilot.cfg"
    phase = "Benchmarking"

    def execute(self):
        pp = self.pp
        caps = node_capabilities(self)
        from ..cpu import db12  # only this command measures the CPU power

        copies = max(1, int(pp.pilotProcessors or 1))
        found = caps["processors"]["limit"]
        if copies > found:
            # one DB12 copy per processor: -P 1000 must not fork 1,000 benchmark processes
            self.log.info("DB12: %d copies asked for, capped at the %d processors found (%s)"
                          % (copies, found, caps["processors"]["limit_source"]))
            copies = found
        measurement = db12.measure(pp.db12Mode, copies, self.log,
                                   cache_dir=pp.db12CacheDir or None, environ=self.context.environ)
        cfg = self.load_cfg()
        factor = measurement["score"]
        if factor is None:
            factor = _float(cfg.get("/LocalSite/CPUNormalizationFactor"))
            self.log.warning("--db12=off: CPU power not measured; using %s" % (factor or "none"))
        source, _ = pp.sources.get("jobCPUReq", (params_module.DEFAULT, ""))
        queue_time = capabilities.queue_cpu_time(
            caps, factor, cpu_time_left=_float(cfg.get("/LocalSite/CPUTimeLeft")),
            queue_parameters=pp.queueParameters,
            job_cpu_req=pp.jobCPUReq if source == params_module.COMMAND_LINE else None)
        self.details.update({"db12": dict((key, measurement.get(key)) for key in (
            "score", "mode", "copies", "from_cache", "raw", "correction", "cpu_seconds", "wall_seconds")),
            "queue_time": queue_time})
        if measurement["score"] is not None:
            self.log.info("CPU power %.1f DB12 (%s, %d cop%s%s)" % (
                measurement["score"], measurement["mode"], measurement["copies"],
                "y" if measurement["copies"] == 1 else "ies", ", from the node cache" if measurement["from_cache"]
                else ""))
        self.log.info("CPU time of the slot: %d s (%s)" % (queue_time["seconds"], queue_time["source"]))
        values = {}
        if factor:
            values["/LocalSite/CPUNormalizationFactor"] = round(float(factor), 1)
        if queue_time["work"]:
            pp.jobCPUReq = queue_time["work"]
            values["/LocalSite/CPUTimeLeft"] = queue_time["work"]
        if values:
            self.write_cfg(values)


class ConfigureArchitectureWithoutCLI(DiracCommand):
    """The dirac-platform string computed by the pilot itself, into /LocalSite."""

    description = "compute the platform string natively (no dirac-platform) and write it into pilot.cfg"

    def execute(self):
        import platform

        architecture = platforminfo.platform_string()
        if not architecture:
            self.fail("cannot compute the platform string on this node")
        self.details["architecture"] = architecture
        self.write_cfg({"/LocalSite/Architecture": architecture, "/LocalSite/Platform": platform.machine()})


def _float(value):
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _true(value):
    return compat.to_text(value).strip().lower() in ("true", "yes", "1") if value is not None else False
