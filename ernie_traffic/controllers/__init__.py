"""Signal controllers: the Controller protocol, classical controllers, trained policies."""

from ernie_traffic.controllers.base import Controller
from ernie_traffic.controllers.classical import CLASSICAL, classical_controller
from ernie_traffic.controllers.learned import LearnedController, load_controller

__all__ = ["CLASSICAL", "Controller", "LearnedController", "classical_controller", "load_controller"]
