<#
.SYNOPSIS
    Run `crashbot watch` on the game host as an auto-restarting scheduled task that starts at boot.

.DESCRIPTION
    The uploader needs the GitHub token (or App key) and the HMAC signing key. They are written to a
    secrets file readable only by Administrators and SYSTEM (the task's account), loaded into the
    process environment by Start-CrashbotWatch.ps1 at start: they never appear in the task definition,
    in crashbot.toml or on a command line. Idempotent; supports -WhatIf.

.EXAMPLE
    .\Install-CrashbotUploader.ps1 -CrashDir D:\WoW\Server\Crashes -Config C:\crashbot\crashbot.toml
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string[]]$CrashDir,
    [Parameter(Mandatory = $true)][string]$Config,
    [string]$CrashbotHome = 'C:\crashbot',
    [string]$TaskName = 'crashbot-watch'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$crashbot = Join-Path $CrashbotHome 'venv\Scripts\crashbot.exe'
if (-not (Test-Path $crashbot)) { throw "crashbot is not installed at $crashbot (run Install-CrashbotRunner.ps1 first)." }
if (-not (Test-Path $Config)) { throw "Config $Config not found (create it with: crashbot init)." }

$secrets = Join-Path $CrashbotHome 'secrets.env'
if (-not (Test-Path $secrets)) {
    if ($PSCmdlet.ShouldProcess($secrets, 'create the secrets file (asks for the values)')) {
        $token = Read-Host -AsSecureString 'GitHub token of the uploader identity (CRASHBOT_TOKEN)'
        $key = Read-Host -AsSecureString 'HMAC signing key shared with the fix workflow (CRASHBOT_SIGNING_KEY)'
        $plain = { param($s) [Runtime.InteropServices.Marshal]::PtrToStringBSTR([Runtime.InteropServices.Marshal]::SecureStringToBSTR($s)) }
        Set-Content -Path $secrets -Value @("CRASHBOT_TOKEN=$(& $plain $token)", "CRASHBOT_SIGNING_KEY=$(& $plain $key)")
        # Only SYSTEM and Administrators may read it.
        icacls $secrets /inheritance:r /grant:r 'SYSTEM:(R)' 'Administrators:(F)' | Out-Null
    }
} else {
    Write-Host "OK: $secrets exists (edit it to rotate the token or key)."
}

$launcher = Join-Path $CrashbotHome 'Start-CrashbotWatch.ps1'
$dirs = ($CrashDir | ForEach-Object { "'" + $_.Replace("'", "''") + "'" }) -join ', '
$body = @"
# Written by Install-CrashbotUploader.ps1: load secrets into this process only, then watch.
`$ErrorActionPreference = 'Stop'
Get-Content '$secrets' | ForEach-Object {
    if (`$_ -match '^([A-Z_][A-Z0-9_]*)=(.*)$') { [Environment]::SetEnvironmentVariable(`$Matches[1], `$Matches[2], 'Process') }
}
& '$crashbot' --config '$Config' watch @($dirs)
exit `$LASTEXITCODE
"@
if ($PSCmdlet.ShouldProcess($launcher, 'write the launcher')) {
    Set-Content -Path $launcher -Value $body
}

$existing = Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
if ($PSCmdlet.ShouldProcess($TaskName, 'register the scheduled task (at startup, restart on failure)')) {
    if ($existing) { Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false }
    $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -ExecutionPolicy Bypass -File `"$launcher`""
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -DontStopOnIdleEnd
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings -Principal $principal | Out-Null
    Start-ScheduledTask -TaskName $TaskName
    Write-Host "Registered and started scheduled task $TaskName."
}
