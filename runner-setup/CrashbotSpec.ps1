# Dot-sourced by the installers: what may be passed as -CrashbotSpec.
# crashbot is not published on PyPI: a bare name (crashbot, crashbot==1.0) would fail today and, run as
# Administrator, install whatever someone later publishes under that name. So the spec must be the wheel
# CI builds (dist\crashbot-*.whl), a git URL (git+https://github.com/OWNER/crashbot@COMMIT) or a checkout.
# The same rule as install-uploader.sh (a test keeps the two patterns equal).
$SpecPattern = '[/\\]|^[.]{1,2}$|[.](whl|zip|tar[.]gz)$'

function Assert-CrashbotSpec([string]$Spec) {
    if (-not $Spec) {
        throw 'Pass -CrashbotSpec with the crashbot wheel, git URL or checkout to install (e.g. -CrashbotSpec C:\Downloads\crashbot-0.1.0-py3-none-any.whl).'
    }
    if ($Spec -notmatch $SpecPattern) {
        throw "-CrashbotSpec '$Spec' is a bare package name and crashbot is not published on PyPI: pass the wheel path (dist\crashbot-*.whl), a git URL (git+https://github.com/OWNER/crashbot@COMMIT) or a checkout directory."
    }
    if ($Spec -notmatch '://|^git\+' -and -not (Test-Path $Spec)) {
        throw "-CrashbotSpec '$Spec' does not exist: pass the path of the crashbot wheel or checkout."
    }
}
