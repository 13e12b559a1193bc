"""The studio on laptop and desktop screens: opened on a screen of each common size, with the
default layout, every plot keeps a data area of at least a stated size that no legend covers,
no two tick labels of an axis overlap, every grid of images lies inside its pane at a readable
size, and the window fits the screen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QImage, QPainter

from drawstudio.train.history import HistoryChange, HistoryEntry
from drawstudio.train.snapshot import Attention, Snapshot

SCREENS = ((1280, 720), (1366, 768), (1920, 1080), (2560, 1440))
TASK_BAR = 48  # a desktop's panel and the window's title bar: what a maximised window does not get
STEPS = 100_000
on_every_screen = pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
# The least data area (width, height in pixels) at which each plot still reads.
MIN_DATA_AREA = {"training curves": (300, 180), "KL per drawing step": (240, 60), "learning rate": (240, 100),
                 "KL heatmap": (200, 90)}
MIN_DOCK = (300, 180)  # the least size of a dock in front (width, height in pixels)
# The least size (pixels, the longer side) of each grid of images.
MIN_GRID = {"canvas": 250, "glimpses": 100}


def synthetic_snapshot(T: int = 8, batch: int = 16, read_n: int = 2, write_n: int = 5) -> Snapshot:
    """A snapshot of the shape a Fashion-MNIST run's has (values random: only the layout matters)."""
    rng = np.random.default_rng(0)
    images = rng.random((T, batch, 1, 28, 28), dtype=np.float32)
    steps = np.ones((T, batch), np.float32)

    def attention(n: int) -> Attention:
        return Attention(14 * steps, 14 * steps, 2 * steps, steps, steps, n)

    return Snapshot(step=STEPS, originals=images[-1], labels=None, reconstructions=images,
                    read=attention(read_n), write=attention(write_n),
                    read_glimpses=rng.random((T, batch, 2, 1, read_n, read_n), dtype=np.float32),
                    write_patches=rng.standard_normal((T, batch, 1, write_n, write_n), dtype=np.float32),
                    samples=images, sample_write=attention(write_n), sample_labels=None,
                    kl_per_step=np.linspace(2.0, 0.5, T, dtype=np.float32))


def training_records() -> list[dict]:
    """A long run's log, every 100 steps: curves spanning 5 to 700 nats (a log axis of three
    decades, as training Fashion-MNIST gives) and six-digit steps."""
    steps = np.arange(100, STEPS + 1, 100)
    x = steps / 100  # the curves' shape over the first 1,000 log lines
    recon = 250 + 450 * np.exp(-x / 60)
    kl = 12 + 20 * np.exp(-((x - 40) / 80) ** 2) - 7 * np.exp(-x / 10)
    records = [{"kind": "train", "step": int(s), "loss": float(r + k), "recon": float(r), "kl": float(k), "lr": 3e-3}
               for s, r, k in zip(steps, recon, kl)]
    records += [{"kind": "eval", "split": "test", "step": s, "nll": 600.0 - s / 400}
                for s in range(20_000, STEPS, 20_000)]
    return records


def feed(window) -> None:
    """Everything the panes show, as a run would deliver it, drawn once."""
    from drawstudio.config import TrainConfig

    window.history.extend(training_records())
    window.lr_pane.set_run(TrainConfig(lr=3e-3, steps=STEPS), None)
    kept = [m * 10 ** e for e in range(6) for m in (1, 2, 5) if m * 10 ** e <= STEPS]  # 1, 2, 5, …, 100,000
    window.training_steps.history.merge(HistoryChange(
        [HistoryEntry(s, {"kl_per_step": np.linspace(3.0, 0.5, 8, dtype=np.float32) * s ** 0.1}) for s in kept], []))
    window._on_snapshot(synthetic_snapshot())
    for pane in (window.canvas, window.glimpses, window.curves, window.curves, window.lr_pane):
        pane.refresh()  # the curves pane draws its bars, then its curves: one per call


@pytest.fixture
def open_on(qtbot, tmp_path, monkeypatch, no_thread_left):
    """open_on((width, height)) -> the main window opened for the first time on a screen of that
    size, fed a run's curves and drawing, laid out and painted."""
    from PySide6.QtCore import QSettings

    from drawstudio.studio import window_layout
    from drawstudio.studio.app import configure_pyqtgraph
    from drawstudio.studio.main_window import MainWindow

    configure_pyqtgraph()

    def open_window(screen: tuple[int, int], window_manager: bool = True):
        """`window_manager`: shrink a window larger than the screen's free area to it, as a
        window manager does (False: leave it as the window made itself)."""
        available = QRect(0, 0, screen[0], screen[1] - TASK_BAR)
        monkeypatch.setattr(window_layout, "available_geometry", lambda window: QRect(available))
        window = MainWindow(QSettings(str(tmp_path / f"{screen}.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        if window_manager:
            window.resize(min(window.width(), available.width()), min(window.height(), available.height()))
        window.show()
        feed(window)
        settle(qtbot, window)
        return window

    return open_window


def settle(qtbot, window) -> None:
    qtbot.wait(20)
    window.grab()  # paints every visible plot, which applies their pending ranges
    qtbot.wait(20)


def in_front(qtbot, window, dock) -> None:
    """Bring `dock` to the front of its tab group, as a click on its tab does."""
    dock.raise_()
    settle(qtbot, window)


def plots_in_front(qtbot, window):
    """(name, the dock showing it, its PlotItem) of every plot, its dock brought to the front first."""
    for name, dock, item in (
            ("training curves", window.docks["curves"], window.curves.plot.getPlotItem()),
            ("KL per drawing step", window.docks["curves"], window.curves.kl_plot.getPlotItem()),
            ("learning rate", window.docks["lr"], window.lr_pane.plot.getPlotItem()),
            ("KL heatmap", window.docks["heatmap"], window.training_steps.heatmap.plot.getPlotItem())):
        in_front(qtbot, window, dock)
        yield name, dock, item


def grids(window) -> dict[str, tuple[object, str, object]]:
    """{name: (the dock showing it or None for the canvas, its kind, its GridView)}."""
    found = {f"canvas {view.label.text}": (None, "canvas", view) for view in (window.canvas.left, window.canvas.right)}
    found.update({f"glimpses {view.label.text}": (window.docks["glimpses"], "glimpses", view)
                  for view in window.glimpses.views})
    return found


def global_rect(item) -> QRect:
    """Where a graphics item is on the screen (its scene's first view)."""
    view = item.scene().views()[0]
    polygon = view.mapFromScene(item.sceneBoundingRect())
    rect = polygon.boundingRect()
    return QRect(view.mapToGlobal(rect.topLeft()), rect.size())


def visible_rect(widget) -> QRect:
    """The part of `widget` on the screen: clipped by every widget it sits in."""
    rect = QRect(widget.mapToGlobal(widget.rect().topLeft()), widget.size())
    parent = widget.parentWidget()
    while parent is not None:
        rect &= QRect(parent.mapToGlobal(parent.rect().topLeft()), parent.size())
        parent = parent.parentWidget()
    return rect


def tick_labels(axis) -> list[tuple[QRectF, str]]:
    """The tick labels `axis` draws, each with its rectangle."""
    image = QImage(16, 16, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [(rect, text) for rect, _, text in specs[2]]


@on_every_screen
def test_every_plot_shows_its_data_area_at_least_at_its_minimum_with_no_legend_over_it(open_on, qtbot, screen):
    import pyqtgraph as pg

    window = open_on(screen)
    problems = []
    for name, dock, item in plots_in_front(qtbot, window):
        view = item.getViewBox()
        shown = global_rect(view)
        width, height = MIN_DATA_AREA[name]
        if shown.width() < width or shown.height() < height:
            problems.append(f"{name}: data area {shown.width()}×{shown.height()}, not {width}×{height}")
        if not visible_rect(dock.widget()).contains(shown):
            problems.append(f"{name}: its data area is cut off by its dock")
        legends = [legend for legend in item.scene().items() if isinstance(legend, pg.LegendItem)
                   and legend.isVisible() and legend.sceneBoundingRect().intersects(view.sceneBoundingRect())]
        if legends:
            problems.append(f"{name}: a legend covers the data")
    assert not problems, "\n".join(problems)


@on_every_screen
def test_no_two_tick_labels_of_an_axis_overlap(open_on, qtbot, screen):
    window = open_on(screen)
    problems = []
    for name, dock, item in plots_in_front(qtbot, window):
        for side in ("left", "bottom", "right"):
            axis = item.getAxis(side)
            if not axis.isVisible():
                continue
            labels = tick_labels(axis)
            if not labels:
                problems.append(f"{name}, {side} axis: no tick labels at all")
            problems += [f"{name}, {side} axis: {text!r} overlaps {other_text!r}"
                         for index, (rect, text) in enumerate(labels)
                         for other, other_text in labels[index + 1:] if rect.intersects(other)]
    assert not problems, "\n".join(problems)


@on_every_screen
def test_every_grid_of_images_lies_inside_its_pane_at_a_readable_size(open_on, qtbot, screen):
    window = open_on(screen)
    problems = []
    for name, (dock, kind, view) in grids(window).items():
        if dock is not None:
            in_front(qtbot, window, dock)
        pane = visible_rect(window.centralWidget() if dock is None else dock.widget())
        shown = global_rect(view.image)
        if not pane.contains(shown):
            problems.append(f"{name}: {shown.getRect()} reaches out of its pane {pane.getRect()}")
        if max(shown.width(), shown.height()) < MIN_GRID[kind]:
            problems.append(f"{name}: {shown.width()}×{shown.height()}, not {MIN_GRID[kind]} pixels")
    assert not problems, "\n".join(problems)


@on_every_screen
def test_the_first_open_fits_the_screen_maximised_on_a_laptop_with_every_dock_on_it(open_on, qtbot, screen):
    from drawstudio.studio.window_layout import opens_maximised

    window = open_on(screen, window_manager=False)
    available = QRect(0, 0, screen[0], screen[1] - TASK_BAR)
    laptop = screen[0] < 1600
    # a maximised window's frame and place are the window manager's; an unmaximised one fits whole
    fits = (window.width() <= available.width() and window.height() <= available.height() if laptop
            else available.contains(window.frameGeometry()))
    assert fits, f"window {window.frameGeometry()} on a screen whose free area is {available}"
    assert window.opens_maximised == laptop == opens_maximised(available.size())
    for name, dock in window.docks.items():
        in_front(qtbot, window, dock)
        assert not dock.isFloating() and dock.isVisible(), name
        shown = visible_rect(dock)
        assert shown.width() >= MIN_DOCK[0] and shown.height() >= MIN_DOCK[1], f"{name} dock: {shown.size()}"


def test_the_users_arrangement_is_remembered_until_reset_layout_restores_the_default(open_on, qtbot, tmp_path):
    from PySide6.QtCore import QSettings, Qt

    from drawstudio.studio.main_window import MainWindow

    window = open_on((1366, 768))
    docks = window.docks
    assert window.tabifiedDockWidgets(docks["curves"]) == [docks["lr"]]  # a laptop: tabbed, not squeezed
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, docks["curves"])
    docks["heatmap"].setFloating(True)
    window.close()  # saves the arrangement

    again = MainWindow(QSettings(str(tmp_path / f"{(1366, 768)}.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.show()
    docks = again.docks
    assert again.dockWidgetArea(docks["curves"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert docks["heatmap"].isFloating()
    reset = next(a for a in again.menuBar().actions() if a.text() == "&View").menu().actions()[-1]
    assert reset.text() == "&Reset layout"
    reset.trigger()
    settle(qtbot, again)
    assert again.dockWidgetArea(docks["curves"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert again.tabifiedDockWidgets(docks["curves"]) == [docks["lr"]]
    assert not docks["heatmap"].isFloating()
    assert again.dockWidgetArea(docks["heatmap"]) == Qt.DockWidgetArea.BottomDockWidgetArea
    again.close()


def test_a_crowded_log_axis_labels_its_decades_first(qtbot):
    """Labels are thinned level by level: the decades keep theirs, minor ticks fill the room left."""
    from drawstudio.studio.app import configure_pyqtgraph
    from drawstudio.studio.plots import plot_widget

    configure_pyqtgraph()
    widget = plot_widget()
    qtbot.addWidget(widget)
    widget.resize(300, 220)
    item = widget.getPlotItem()
    item.setLogMode(False, True)
    item.plot([0, 1, 2], [8.0, 70.0, 600.0])  # under three decades: pyqtgraph files 10¹ and 10² as minor ticks
    widget.show()

    def texts() -> list[str]:
        return [text for _, text in tick_labels(item.getAxis("left"))]

    def decades_first() -> None:
        assert {"10¹", "10²"} <= set(texts()) and len(texts()) >= 3, texts()

    # the axis lays its labels out in passes as the widget gets its size: on a loaded machine, over several frames
    qtbot.waitUntil(decades_first, timeout=5000)


def test_a_legend_sits_above_its_plot_and_a_click_on_a_name_hides_or_shows_its_curve(qtbot):
    from drawstudio.studio.curves_pane import CurvesPane
    from drawstudio.studio.history import MetricsHistory

    pane = CurvesPane(MetricsHistory())
    qtbot.addWidget(pane)
    legend = pane.plot.getPlotItem().legend
    assert legend.names() == ["total loss (−ELBO)", "reconstruction", "KL", "test NLL", "learning rate (right axis)"]
    kl = pane.curves["kl"]
    legend.linkActivated.emit(str(legend.names().index("KL")))
    assert not kl.isVisible() and "line-through" in legend.text()
    legend.linkActivated.emit(str(legend.names().index("KL")))
    assert kl.isVisible() and "line-through" not in legend.text()
