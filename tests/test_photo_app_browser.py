"""JupyterLab in a real browser (issues 13 and 25): the photo-editing notebook `nbs/12_photo_app.ipynb` opened in
headless Chromium, run, a photo uploaded to its widget, a second attribute switched on and the strength slider moved;
the edit and the mask must appear each time (DOM and screenshot).

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`; `.ci/run` installs them) and
selenium (the dev extra); skipped when they are missing. `SAGAN_NB_SCREENSHOT=path` keeps the screenshot (the one in
`nbs/images/photo_app.png` was made so)."""
import io, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROME, DRIVER = shutil.which('chromium') or shutil.which('chromium-browser'), shutil.which('chromedriver')
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROME and DRIVER), reason='needs chromium and chromedriver')]
webdriver = pytest.importorskip('selenium.webdriver')
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

LAB_LOG = [None]                                  # JupyterLab's log (the kernel's stderr too), shown when a wait fails

def _up(url, token) -> bool:
    try: urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2); return True
    except Exception: return False

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "JupyterLab on localhost serving a copy of the notebook (so autosave cannot touch the repository): (url, folder)."
    d = tmp_path_factory.mktemp('lab')
    (d / '.cfg' / 'labconfig').mkdir(parents=True)                  # no "news?" pop-up over the screenshot
    (d / '.cfg' / 'labconfig' / 'page_config.json').write_text('{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    shutil.copy(ROOT / 'nbs' / '12_photo_app.ipynb', d / 'photo_app.ipynb')
    port, token = free_port(), 'sagan-nb-test'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'JUPYTER_CONFIG_DIR': str(d / '.cfg'), 'JUPYTER_RUNTIME_DIR': str(d / '.rt'),
           'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}
    p = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
                          f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={d}', '--LabApp.expose_app_in_browser=True',
                          '--ServerApp.open_browser=False'] + (['--allow-root'] if os.geteuid() == 0 else []), cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=open(d / 'lab.log', 'w'))
    url = f'http://127.0.0.1:{port}'
    LAB_LOG[0] = d / 'lab.log'
    for _ in range(120):
        if p.poll() is not None: break
        if _up(url, token): break
        time.sleep(0.5)
    if p.poll() is not None or not _up(url, token): p.kill(); pytest.fail('JupyterLab did not start:\n' + (d / 'lab.log').read_text()[-2000:])
    yield f'{url}/lab/tree/photo_app.ipynb?token={token}', d
    p.terminate(); p.wait(20)

@pytest.fixture(scope='module')
def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROME
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1300,1000', '--disable-gpu'): o.add_argument(a)
    b = webdriver.Chrome(options=o, service=webdriver.ChromeService(executable_path=DRIVER))
    yield b
    b.quit()

def wait(b, cond, what: str, timeout: float = 120):
    "WebDriverWait(b, timeout).until(cond), failing with what the page shows (its text, a screenshot beside the log)."
    from selenium.common.exceptions import TimeoutException, StaleElementReferenceException
    # a widget redraws its image while the condition reads it: a stale element means "look again", not a failure
    try: return WebDriverWait(b, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(cond)
    except TimeoutException:
        shot = Path(os.environ.get('PYTEST_TMP', '/tmp')) / 'sagan_nb_browser_failure.png'
        b.save_screenshot(str(shot))
        log = LAB_LOG[0].read_text(errors='replace')[-4000:] if LAB_LOG[0] and LAB_LOG[0].exists() else '(none)'
        pytest.fail(f"timed out after {timeout} s waiting for {what}; the page (screenshot {shot}) says:\n" +
                    b.find_element(By.TAG_NAME, 'body').text[-1500:] + '\n\nJupyterLab and its kernel said:\n' + log)

def upload(b, path):
    """Choose `path` in the widget's file dialog. ipywidgets' upload button clicks a detached <input type=file>; the
    page's click() on file inputs is wrapped to attach that input instead of opening a dialog, so the driver can fill it."""
    b.execute_script("""
        if (!window._saganUpload) { window._saganUpload = true; const click = HTMLInputElement.prototype.click;
          HTMLInputElement.prototype.click = function () {
            if (this.type !== 'file') return click.call(this);
            this.classList.add('sagan-upload'); this.style.display = 'block'; document.body.appendChild(this); } }
        document.querySelectorAll('.sagan-upload').forEach(e => e.remove());""")
    wait(b, lambda b: b.find_elements(By.CSS_SELECTOR, '.widget-upload'), 'the upload button')[0].click()
    wait(b, lambda b: b.find_elements(By.CSS_SELECTOR, 'input.sagan-upload'), 'the file input')[0].send_keys(str(path))

def shown(b, text, timeout=120, other_than=None):
    "Wait until the widget's note says `text` and its output holds a drawn picture (another than `other_than`); returns that <img>."
    def ready(b):
        if text not in b.find_element(By.TAG_NAME, 'body').text: return False
        imgs = [i for i in b.find_elements(By.CSS_SELECTOR, '.widget-output img') if (i.get_attribute('src') or '').startswith('data:image/png')]
        if not imgs or (other_than is not None and imgs[-1].get_attribute('src') == other_than): return False
        return imgs[-1]
    return wait(b, ready, f'{text!r} and the drawn edit', timeout)

def switch(b, attribute: str, to: str):
    "Click `to` ('off', 'add' or 'remove') on the attribute's row of switches (its name, then its buttons)."
    row = f"//div[contains(@class, 'widget-hbox')][./div[contains(@class, 'widget-label')][normalize-space(.)='{attribute}']]"
    wait(b, lambda b: b.find_elements(By.XPATH, f"{row}//button[normalize-space(.)='{to}']"), f'the {attribute} switches')[0].click()

def slide(b, key):
    "Press `key` on the strength slider's handle (End: its maximum, Home: its minimum, arrows: one step)."
    handle = wait(b, lambda b: b.find_elements(By.CSS_SELECTOR, '.widget-slider .noUi-handle'), 'the strength slider')[0]
    handle.click(); handle.send_keys(key)

def test_photo_app_in_jupyterlab(lab, browser, tmp_path, data_root_or_none):
    url, d = lab
    b = browser; b.get(url)
    wait(b, lambda b: b.execute_script(
        "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel);"), 'the notebook and its kernel')
    b.execute_script("window.jupyterapp.commands.execute('application:toggle-left-area');"
                     "window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # the parameters cell starts in "find faces"; a synthetic face is already aligned: switch, then upload it
    from sagan_nb.synth import face_attrs
    from sagan_nb.render import face_params, render_face
    face = tmp_path / 'synthetic_face.png'
    Image.fromarray(render_face(face_params(0, 3), face_attrs(0, 3), 128)[0]).save(face)
    wait(b, lambda b: [e for e in b.find_elements(By.CSS_SELECTOR, '.widget-toggle-button') if e.text == 'aligned face'], 'the widget', 180)
    [e for e in b.find_elements(By.CSS_SELECTOR, '.widget-toggle-button') if e.text == 'aligned face'][0].click()
    upload(b, face)
    first = shown(b, 'edited as an aligned face (the central square, as CelebA is framed): +Eyeglasses, strength 1.00')
    # a second attribute: one combined edit, Eyeglasses then Smiling, drawn again
    switch(b, 'Smiling', 'add')
    two = shown(b, '+Eyeglasses +Smiling, strength 1.00', other_than=first.get_attribute('src'))
    # the strength slider to its end: every mask doubled, drawn again
    from selenium.webdriver.common.keys import Keys
    slide(b, Keys.END)
    img = shown(b, '+Eyeglasses +Smiling, strength 2.00', other_than=two.get_attribute('src'))
    b.execute_script("document.querySelector('.widget-upload').scrollIntoView({block: 'start'});"); time.sleep(1)
    png = b.get_screenshot_as_png()
    if os.environ.get('SAGAN_NB_SCREENSHOT'): Path(os.environ['SAGAN_NB_SCREENSHOT']).write_bytes(png)
    # the screenshot: where the <img> is, three panels are drawn (not blank), the face's panel is not the mask's
    shot = np.asarray(Image.open(io.BytesIO(png)).convert('L')).astype(float)
    r, k = img.rect, b.execute_script('return window.devicePixelRatio')
    crop = shot[int(r['y'] * k):int((r['y'] + r['height']) * k), int(r['x'] * k):int((r['x'] + r['width']) * k)]
    assert crop.size and crop.std() > 20, 'the edit was not drawn'
    thirds = np.array_split(crop, 3, axis=1)
    assert np.abs(thirds[0].mean() - thirds[2].mean()) > 5 and all(t.std() > 10 for t in thirds)
    # an LFW photo, faces found (with dlib and the shared data)
    if data_root_or_none is not None and (data_root_or_none / 'lfw').is_dir():
        try: import dlib  # noqa: F401
        except ImportError: return
        [e for e in b.find_elements(By.CSS_SELECTOR, '.widget-toggle-button') if e.text == 'find faces'][0].click()
        photo = sorted((data_root_or_none / 'lfw' / 'lfw').glob('*/*.jpg'))[0]
        upload(b, photo)
        shown(b, '1 face(s) found')
