<#
.SYNOPSIS
    Install a GitHub Actions runner for crashbot on a Windows game host: a dedicated local account,
    the runner as a service under it, the right to stop/start worldserver, Python and crashbot,
    and optionally cdb (Debugging Tools for Windows) and LLVM (llvm-symbolizer, for symbolication).

.DESCRIPTION
    Idempotent: each step checks before it acts and says what it found. Supports -WhatIf.
    Run from an elevated PowerShell. Get the registration token from the repository's
    Settings > Actions > Runners > New self-hosted runner (it is valid for one hour).
    Download the runner package (actions-runner-win-x64-<version>.zip) from the same page; this script
    does not fetch anything from the internet except through winget/pip when those are missing pieces.

.EXAMPLE
    .\Install-CrashbotRunner.ps1 -RepoUrl https://github.com/me/my-server -RegistrationToken AABBCC... `
        -RunnerPackage C:\Downloads\actions-runner-win-x64-2.330.0.zip -Labels realm-main `
        -WorldserverService worldserver -CrashbotSpec C:\Downloads\crashbot-0.1.0-py3-none-any.whl
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string]$RepoUrl,
    [Parameter(Mandatory = $true)][string]$RegistrationToken,
    [Parameter(Mandatory = $true)][string]$RunnerPackage,
    [string]$RunnerDir = 'C:\actions-runner',
    [string]$RunnerName = $env:COMPUTERNAME,
    [string[]]$Labels = @('realm-main'),
    [string]$Account = 'crashbot-runner',
    [string]$WorldserverService = '',
    [Parameter(Mandatory = $true)][string]$CrashbotSpec,  # wheel path, git URL or checkout (see CrashbotSpec.ps1)
    [string]$CrashbotHome = 'C:\crashbot',
    [switch]$InstallCdb,
    [switch]$InstallLlvm
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Assert-Admin {
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'Run this script from an elevated PowerShell (Run as Administrator).'
    }
}

function New-RandomPassword {
    $bytes = New-Object byte[] 24
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    return [Convert]::ToBase64String($bytes) + 'aA1!'
}

. (Join-Path $PSScriptRoot 'CrashbotSpec.ps1')
Assert-CrashbotSpec $CrashbotSpec
Assert-Admin
if (-not (Test-Path $RunnerPackage)) { throw "Runner package '$RunnerPackage' not found." }

# 1. A dedicated local account: the runner must not run as an administrator or as NETWORK SERVICE,
#    which cannot stop another service. Its password is needed only to register the runner service.
$configured = Test-Path (Join-Path $RunnerDir '.runner')
$password = $null
if (Get-LocalUser -Name $Account -ErrorAction SilentlyContinue) {
    Write-Host "OK: local account $Account exists."
    if (-not $configured) {
        if (-not $env:CRASHBOT_RUNNER_PASSWORD) {
            throw "Account $Account exists but no runner is registered yet: set `$env:CRASHBOT_RUNNER_PASSWORD to the account's password so the runner service can be registered under it."
        }
        $password = $env:CRASHBOT_RUNNER_PASSWORD
    }
} elseif ($PSCmdlet.ShouldProcess($Account, 'create local account')) {
    $password = New-RandomPassword
    $secure = ConvertTo-SecureString $password -AsPlainText -Force
    New-LocalUser -Name $Account -Password $secure -PasswordNeverExpires -UserMayNotChangePassword `
        -Description 'GitHub Actions runner for crashbot' | Out-Null
    Write-Host "Created local account $Account (its password is used once below and not stored by this script)."
}

# 2. Git for Windows: the checkout needs git, and the crashbot workflow steps run in its bash.
if (Get-Command git -ErrorAction SilentlyContinue) {
    Write-Host "OK: git is installed."
} elseif ($PSCmdlet.ShouldProcess('Git for Windows', 'install with winget (git and bash for the workflows)')) {
    winget install --id Git.Git --scope machine --silent --accept-package-agreements --accept-source-agreements
    $env:Path = [Environment]::GetEnvironmentVariable('Path', 'Machine')
}
if (-not (Test-Path 'C:\Program Files\Git\bin\bash.exe') -and -not $WhatIfPreference) {
    Write-Warning 'bash.exe of Git for Windows was not found at its default place: the workflows use "shell: bash".'
}

# 3. Python and crashbot in a virtualenv the runner account can read.
$python = (Get-Command python -ErrorAction SilentlyContinue)
if (-not $python) {
    if ($PSCmdlet.ShouldProcess('Python 3.12', 'install with winget')) {
        winget install --id Python.Python.3.12 --scope machine --silent --accept-package-agreements --accept-source-agreements
        $env:Path = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    }
}
$venv = Join-Path $CrashbotHome 'venv'
# The spec is installed every time, so rerunning with a newer wheel upgrades crashbot in place.
if ($PSCmdlet.ShouldProcess($venv, "pip install $CrashbotSpec into the virtualenv")) {
    New-Item -ItemType Directory -Force -Path $CrashbotHome | Out-Null
    if (-not (Test-Path (Join-Path $venv 'Scripts\python.exe'))) { python -m venv $venv }
    & (Join-Path $venv 'Scripts\python.exe') -m pip install --upgrade pip $CrashbotSpec
    if ($LASTEXITCODE -ne 0) { throw "pip install $CrashbotSpec failed with exit code $LASTEXITCODE." }
}

# 4. The runner itself, as a service under the dedicated account.
if ($configured) {
    Write-Host "OK: a runner is already configured in $RunnerDir (remove it with config.cmd remove to re-register)."
} elseif ($PSCmdlet.ShouldProcess($RunnerDir, "register runner '$RunnerName' for $RepoUrl")) {
    New-Item -ItemType Directory -Force -Path $RunnerDir | Out-Null
    Expand-Archive -Path $RunnerPackage -DestinationPath $RunnerDir -Force
    # The runner finds crashbot through PATH; .path is read by the runner at start.
    $pathFile = Join-Path $RunnerDir '.path'
    Set-Content -Path $pathFile -Value ((Join-Path $venv 'Scripts') + ';' + [Environment]::GetEnvironmentVariable('Path', 'Machine'))
    Push-Location $RunnerDir
    try {
        & .\config.cmd --unattended --url $RepoUrl --token $RegistrationToken --name $RunnerName `
            --labels ($Labels -join ',') --runasservice --windowslogonaccount ".\$Account" `
            --windowslogonpassword $password --replace
        if ($LASTEXITCODE -ne 0) { throw "config.cmd failed with exit code $LASTEXITCODE." }
    } finally {
        Pop-Location
    }
}

# 5. The right to stop and start worldserver (graceful stop goes through SOAP/RA first; this is the
#    fallback and the start).
if ($WorldserverService) {
    & (Join-Path $PSScriptRoot 'Grant-ServiceControl.ps1') -ServiceName $WorldserverService -Account ".\$Account" -WhatIf:$WhatIfPreference
}

# 6. Optional: cdb (Debugging Tools for Windows), for `!analyze -v` on minidumps.
if ($InstallCdb) {
    $cdb = Get-ChildItem 'C:\Program Files (x86)\Windows Kits\10\Debuggers\x64\cdb.exe' -ErrorAction SilentlyContinue
    if ($cdb) {
        Write-Host "OK: cdb is installed ($($cdb.FullName))."
    } elseif ($PSCmdlet.ShouldProcess('Debugging Tools for Windows', 'install with winget')) {
        winget install --id Microsoft.WindowsSDK.10.0.22621 --silent --accept-package-agreements `
            --accept-source-agreements --override '/features OptionId.WindowsDesktopDebuggers /quiet /norestart'
    }
}

# 7. Optional: LLVM, whose llvm-symbolizer resolves bare frames through the release symbol store
#    (crashbot looks for it on PATH, or at [symbols] symbolizer in crashbot.toml).
if ($InstallLlvm) {
    $onPath = Get-Command llvm-symbolizer -ErrorAction SilentlyContinue
    $llvm = if ($onPath) { $onPath.Source } else { 'C:\Program Files\LLVM\bin\llvm-symbolizer.exe' }
    if (Test-Path $llvm) {
        Write-Host "OK: llvm-symbolizer is installed ($llvm)."
    } elseif ($PSCmdlet.ShouldProcess('LLVM', 'install with winget')) {
        winget install --id LLVM.LLVM --silent --accept-package-agreements --accept-source-agreements
        Write-Host 'Set [symbols] symbolizer = "C:\Program Files\LLVM\bin\llvm-symbolizer.exe" if it is not on PATH.'
    }
}

Write-Host ''
Write-Host 'Next: install CMake and the Visual Studio C++ build tools your server needs (crashbot builds it),'
Write-Host 'then run `crashbot doctor` as the runner account to check tokens, labels, tools and SOAP/RA.'
