"""What a default app.py keeps out of memory, and that nothing is lost by it (issue 13, helper F).

Facts, not sizes (the sizes are bench/sidebyside/startup.py's): the modules a default run loads leave
out networkx (loaded when a topology is drawn) and redis (loaded when a lecture hall builds its
manager); the topology and the hall still work with them loaded late; ``memory.settle`` freezes
what start-up made.  Each check runs in a fresh interpreter, where the imports are the first.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_default_run_imports_neither_networkx_nor_redis_until_asked():
    facts = _run("""
import json, sys
import app
from simulator import lesson, runtime, web
from simulator.scenario import DEFAULT_SCENARIO, load_scenario
from simulator.world import World
before = {name: name in sys.modules for name in ("networkx", "redis")}
world = World(load_scenario(DEFAULT_SCENARIO))
graph = world.graph()
from simulator.web.layout import layout
drawn = layout(graph, 1200, 640)
print(json.dumps({"before": before, "networkx_after": "networkx" in sys.modules,
                  "nodes": graph.number_of_nodes(), "boxes": len(drawn["nodes"])}))
""")
    assert facts["before"] == {"networkx": False, "redis": False}
    assert facts["networkx_after"] is True
    assert facts["nodes"] > 0 and facts["boxes"] > 0


def test_the_hall_gets_redis_when_it_builds_its_manager():
    facts = _run("""
import json, sys
from simulator.web import hall
from socketio import async_redis_manager, redis_manager
hidden = redis_manager.redis is None and "redis" not in sys.modules
manager = hall.HallManager("redis://127.0.0.1:1/0", lambda event, data: None)
import redis
print(json.dumps({"hidden": hidden, "given": redis_manager.redis is redis,
                  "error": redis_manager.RedisError is redis.exceptions.RedisError,
                  "async": async_redis_manager.aioredis is redis.asyncio,
                  "manager": type(manager).__name__}))
""")
    assert facts["hidden"] is True
    assert facts["given"] and facts["error"] and facts["async"]
    assert facts["manager"] == "HallManager"


def test_socketio_imported_first_elsewhere_keeps_its_redis():
    facts = _run("""
import json, sys
import socketio
from simulator import web
from socketio import redis_manager
import redis
print(json.dumps({"kept": redis_manager.redis is redis}))
""")
    assert facts["kept"] is True


def test_settle_freezes_what_start_up_made():
    facts = _run("""
import gc, json
from simulator import memory, runtime
frozen_before = gc.get_freeze_count()
memory.settle()
print(json.dumps({"before": frozen_before, "after": gc.get_freeze_count(), "enabled": gc.isenabled()}))
""")
    assert facts["before"] == 0
    assert facts["after"] > 10_000         # the modules, classes and functions of the simulator at least
    assert facts["enabled"] is True        # frozen objects are skipped; new ones are still collected


def test_a_swapped_world_is_collected_although_start_up_was_frozen():
    facts = _run("""
import gc, json, weakref
from simulator import memory


class World:                            # stands for the mail world: full of reference cycles
    def __init__(self):
        self.me = self


world = World()
old = weakref.ref(world)
memory.settle()                         # app.py, once everything listens: the world is frozen with the rest
del world                               # a lesson loaded: the director drops the old world
gc.collect()
kept_while_frozen = old() is not None
memory._refreeze()                      # app.py: the director's "world" event -> memory.refreeze_after()
print(json.dumps({"kept_while_frozen": kept_while_frozen, "collected": old() is None,
                  "frozen_again": gc.get_freeze_count() > 0}))
""")
    assert facts["kept_while_frozen"] is True       # why the refreeze is needed
    assert facts["collected"] is True
    assert facts["frozen_again"] is True
